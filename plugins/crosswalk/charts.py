"""Small charts as inline SVG, for the reports and cards people read: bars (stacked by series), a histogram with
shaded bands, signed horizontal bars (match weights) and a waterfall (a pair's evidence, step by step).

Pure and dependency-free: the numbers in are counts and weights (never a record's values), every label is
escaped, and the SVG needs no script or font download, so it renders the same in a browser, an e-mail and
headless Chromium. Each chart carries a ``<title>`` and a text summary in ``aria-label`` for screen readers.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

# GOV.UK's palette: distinct in greyscale and for the common colour-vision deficiencies.
PALETTE = ("#1d70b8", "#f47738", "#00703c", "#d4351c", "#4c2c92", "#85994b", "#912b88", "#28a197", "#505a5f")
INK, MUTED, GRID = "#0b0c0c", "#505a5f", "#b1b4b6"
FONT = 'font-family="system-ui,sans-serif"'


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _svg(width: int, height: int, title: str, summary: str, body: list[str]) -> str:
    width = max(width, int(8.2 * len(title)) + 16)  # the title (14 px, bold) is never cut
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{_e(summary)}" {FONT} font-size="12"><title>{_e(title)}</title>'
        f'<text x="8" y="18" font-size="14" font-weight="600" fill="{INK}">{_e(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10 if value >= 1 else 0.1
    for m in (1, 2, 5, 10):
        if m * step >= value:
            return float(m * step)
    return float(value)


def _y_axis(x0: int, y0: int, height: int, top: float, width: int, ticks: int = 4) -> list[str]:
    out = []
    for i in range(ticks + 1):
        v = top * i / ticks
        y = y0 - height * i / ticks
        out.append(f'<line x1="{x0}" x2="{x0 + width}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" stroke-width="0.5"/>')
        label = f"{v:,.0f}" if top >= ticks else f"{v:.2g}"
        out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{label}</text>')
    return out


def _label_width(labels: Sequence[str]) -> int:
    """Room for the longest label at the left (about 6.6 px a character at 12 px), within reason."""
    return min(480, max(120, int(6.6 * max((len(str(x)) for x in labels), default=10)) + 12))


def _legend(names: Sequence[str], x: int, y: int) -> list[str]:
    out, cx = [], x
    for i, name in enumerate(names):
        out.append(f'<rect x="{cx}" y="{y - 9}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(f'<text x="{cx + 14}" y="{y}" fill="{INK}">{_e(name)}</text>')
        cx += 24 + 7 * len(str(name))
    return out


def stacked_bars(title: str, categories: Sequence[str], series: dict[str, Sequence[float]], *, unit: str = "") -> str:
    """One bar per category, stacked by series (transfers per partner per week; rejections by reason)."""
    legend = sum(24 + 7 * len(str(name)) for name in series)
    width, height, left, bottom, top_pad = max(360, 90 + 56 * len(categories), 72 + legend), 260, 56, 56, 40
    plot_h, plot_w = height - bottom - top_pad, width - left - 16
    totals = [sum(s[i] for s in series.values()) for i in range(len(categories))]
    top = _nice_max(max(totals, default=0))
    y0 = height - bottom
    body = _y_axis(left, y0, plot_h, top, plot_w)
    slot = plot_w / max(len(categories), 1)
    for i, cat in enumerate(categories):
        x, base = left + slot * i + slot * 0.15, 0.0
        for k, (_, values) in enumerate(series.items()):
            v = values[i]
            if v:
                h = plot_h * v / top
                y = y0 - plot_h * (base + v) / top
                body.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}"'
                    f' fill="{PALETTE[k % len(PALETTE)]}"><title>{_e(cat)}: {v:,.0f}{unit}</title></rect>'
                )
                base += v
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{y0 + 14}" text-anchor="middle" fill="{INK}">{_e(cat)}</text>')
    body += _legend(list(series), left, height - 12)
    summary = f"{title}: " + "; ".join(f"{c} {t:,.0f}" for c, t in zip(categories, totals, strict=True))
    return _svg(width, height, title, summary, body)


def histogram(
    title: str, edges: Sequence[float], counts: Sequence[int], bands: Sequence[tuple[float, float, str]] = ()
) -> str:
    """Counts per bin between ``edges``; ``bands`` (low, high, label) shaded behind (the review band)."""
    width, height, left, bottom, top_pad = 600, 240, 56, 44, 40
    plot_h, plot_w = height - bottom - top_pad, width - left - 16
    lo, hi = edges[0], edges[-1]
    top = _nice_max(max(counts, default=0))
    y0 = height - bottom

    def x_of(v: float) -> float:
        return left + plot_w * (v - lo) / ((hi - lo) or 1)

    body = []
    for b_lo, b_hi, label in bands:
        body.append(
            f'<rect x="{x_of(b_lo):.1f}" y="{top_pad}" width="{x_of(b_hi) - x_of(b_lo):.1f}" height="{plot_h}"'
            f' fill="#fff7bf"/><text x="{x_of(b_lo) + 3:.1f}" y="{top_pad + 12}" fill="{MUTED}">{_e(label)}</text>'
        )
    body += _y_axis(left, y0, plot_h, top, plot_w)
    for i, c in enumerate(counts):
        if c:
            x1, x2 = x_of(edges[i]), x_of(edges[i + 1])
            h = plot_h * c / top
            body.append(
                f'<rect x="{x1 + 0.5:.1f}" y="{y0 - h:.1f}" width="{max(x2 - x1 - 1, 1):.1f}" height="{h:.1f}"'
                f' fill="{PALETTE[0]}"><title>{edges[i]:.2f} to {edges[i + 1]:.2f}: {c:,}</title></rect>'
            )
    for v in (lo, (lo + hi) / 2, hi):
        body.append(f'<text x="{x_of(v):.1f}" y="{y0 + 14}" text-anchor="middle" fill="{INK}">{v:g}</text>')
    summary = f"{title}: {sum(counts):,} in {len(counts)} bins from {lo:g} to {hi:g}"
    return _svg(width, height, title, summary, body)


def signed_bars(title: str, labels: Sequence[str], values: Sequence[float], *, unit: str = "") -> str:
    """Horizontal bars either side of zero (match weights: evidence for, to the right; against, to the left)."""
    row, pad = 18, 52  # room either side for a bar's value
    left_label = _label_width(labels)
    width, height = left_label + 520, 48 + row * len(labels) + 24
    span = max((abs(v) for v in values), default=1.0) or 1.0
    half = (width - left_label - pad * 2) / 2
    zero = left_label + pad + half
    body = [f'<line x1="{zero}" x2="{zero}" y1="32" y2="{height - 20}" stroke="{INK}" stroke-width="1"/>']
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = 36 + row * i
        w = half * abs(v) / span
        x = zero if v >= 0 else zero - w
        colour = PALETTE[2] if v >= 0 else PALETTE[3]
        body.append(f'<text x="{left_label}" y="{y + 12}" text-anchor="end" fill="{INK}">{_e(label)}</text>')
        body.append(
            f'<rect x="{x:.1f}" y="{y + 2}" width="{max(w, 0.5):.1f}" height="{row - 5}" fill="{colour}">'
            f"<title>{_e(label)}: {v:+.2f}{unit}</title></rect>"
        )
        tx, anchor = (x + w + 3, "start") if v >= 0 else (x - 3, "end")
        body.append(f'<text x="{tx:.1f}" y="{y + 12}" text-anchor="{anchor}" fill="{MUTED}">{v:+.2f}</text>')
    summary = f"{title}: " + "; ".join(f"{lab} {v:+.2f}" for lab, v in zip(labels, values, strict=True))
    return _svg(width, height, title, summary, body)


def waterfall(title: str, start: tuple[str, float], steps: Sequence[tuple[str, float]], *, total_label: str) -> str:
    """A running total from ``start`` through each step (a pair's prior, then each comparison's weight)."""
    items = [start, *steps]
    running, bars = 0.0, []
    for i, (label, v) in enumerate(items):
        before = 0.0 if i == 0 else running
        running = v if i == 0 else running + v
        bars.append((label, before, running, v))
    bars.append((total_label, 0.0, running, running))
    row, pad = 18, 52
    left_label = _label_width([b[0] for b in bars])
    width, height = left_label + 520, 48 + row * len(bars) + 24
    lo = min(0.0, *(min(a, b) for _, a, b, _ in bars))
    hi = max(0.0, *(max(a, b) for _, a, b, _ in bars))
    scale = (width - left_label - pad * 2) / ((hi - lo) or 1)

    def x_of(v: float) -> float:
        return left_label + pad + (v - lo) * scale

    body = [f'<line x1="{x_of(0):.1f}" x2="{x_of(0):.1f}" y1="32" y2="{height - 20}" stroke="{INK}"/>']
    for i, (label, a, b, v) in enumerate(bars):
        y = 36 + row * i
        last = i == len(bars) - 1
        colour = PALETTE[0] if last or i == 0 else (PALETTE[2] if v >= 0 else PALETTE[3])
        x1, x2 = sorted((x_of(a), x_of(b)))
        body.append(f'<text x="{left_label}" y="{y + 12}" text-anchor="end" fill="{INK}">{_e(label)}</text>')
        body.append(
            f'<rect x="{x1:.1f}" y="{y + 2}" width="{max(x2 - x1, 0.5):.1f}" height="{row - 5}" fill="{colour}">'
            f"<title>{_e(label)}: {v:+.2f}</title></rect>"
        )
        body.append(f'<text x="{x2 + 3:.1f}" y="{y + 12}" fill="{MUTED}">{v:+.2f}</text>')
    summary = f"{title}: starts at {items[0][1]:+.2f}, ends at {running:+.2f} after {len(steps)} step(s)"
    return _svg(width, height, title, summary, body)
