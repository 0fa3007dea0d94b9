"""Agreements as an IG officer reads them: a list, one agreement in full, a diff of two versions, and
a register (Markdown and HTML) that needs no YAML.

Everything here is built from the loaded configuration and a date (status depends on the day), as
plain data first (:func:`summary`, :func:`field_matrix`) and then rendered, so the text, Markdown
and HTML say the same things.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date

from crosswalk.config.models.agreements import (
    CLASSIFICATIONS,
    PUBLIC,
    TRANSFORMS,
    Agreement,
    AgreementHistory,
)
from crosswalk.config.models.population import Population

# Short words for the field matrix; TRANSFORMS has the full explanations (the legend).
_SHORT = {
    "pass": "sent",
    "drop": "not sent",
    "pseudonymise": "pseudonymised",
    "mask": "masked",
    "generalise:month": "month only",
    "generalise:year": "year only",
    "generalise:sector": "postcode sector",
    "generalise:district": "postcode district",
    "generalise:age_band": "age band",
}


class UnknownAgreement(LookupError):
    pass


def parse_ref(ref: str, agreements: dict[str, AgreementHistory], today: date) -> Agreement:
    """``ID`` (the version in force today, else the latest) or ``ID@N`` / ``ID@vN`` (that version)."""
    agreement_id, _, version = ref.partition("@")
    history = agreements.get(agreement_id)
    if history is None:
        known = ", ".join(sorted(agreements)) or "none"
        raise UnknownAgreement(f"no agreement {agreement_id!r} (known: {known})")
    if not version:
        return history.in_force(today) or history.latest
    try:
        number = int(version.lstrip("v"))
    except ValueError as exc:
        raise UnknownAgreement(f"{ref!r}: write a version as ID@2") from exc
    found = history.version(number)
    if found is None:
        have = ", ".join(str(a.version) for a in history.versions)
        raise UnknownAgreement(f"{agreement_id} has no version {number} (versions: {have})")
    return found


def status_line(a: Agreement, today: date) -> str:
    status = a.status_on(today)
    window = f"valid {a.valid_from} to {a.valid_until}; review due {a.review_date}"
    if status == "draft":
        return f"draft: not signed off by {', '.join(a.unsigned_on(today))} ({window})"
    return f"{status} ({window})"


def _party(code: str, names: dict[str, str]) -> str:
    if code == PUBLIC:
        return "the public (open data)"
    return f"{names[code]} ({code})" if code in names else code


@dataclass(frozen=True)
class FieldRow:
    dataset: str
    name: str
    description: str
    classification: str
    min_level: int
    by_level: tuple[str, str, str, str]  # transform at levels 1-4


def field_matrix(a: Agreement) -> list[FieldRow]:
    return [
        FieldRow(
            ds,
            name,
            e.description,
            CLASSIFICATIONS[e.classification],
            e.min_level,
            tuple(e.transform_at(level) for level in (1, 2, 3, 4)),  # type: ignore[arg-type]
        )
        for ds, catalogue in a.datasets.items()
        for name, e in catalogue.fields.items()
    ]


def summary(a: Agreement, history: AgreementHistory, names: dict[str, str], today: date) -> list[tuple[str, str]]:
    """The agreement's facts as (label, text) pairs, in reading order."""
    lines = [
        ("Status", status_line(a, today)),
        ("Kind", "open data (aggregates only)" if a.kind == "open_data" else "data sharing"),
    ]
    if a.protocol:
        lines.append(("Protocol", a.protocol))
    lines.append(("Provider", _party(a.provider, names)))
    for r in a.recipients:
        fields = [row for row in field_matrix(a) if row.by_level[r.level - 1] != "drop"]
        changed = [row for row in fields if row.by_level[r.level - 1] != "pass"]
        lines.append(
            (
                "Recipient",
                f"{_party(r.partner, names)} at level {r.level}: {len(fields)} field(s)"
                + (f", {len(changed)} transformed" if changed else ""),
            )
        )
        lines += population_lines(r.population, a.kind)
    lines += [("Purpose", a.purpose), ("Lawful basis", a.lawful_basis.describe())]
    if a.lawful_basis.note:
        lines.append(("", a.lawful_basis.note))
    for party in a.parties:
        s = a.sign_off.get(party)
        lines.append(("Sign-off", f"{_party(party, names)}: " + (f"{s.name}, {s.role}, {s.date}" if s else "MISSING")))
    auto = a.automation
    lines.append(
        ("Automation", f"approved by {auto.by} on {auto.on}" if auto.approved else "not approved: runs stay manual")
    )
    if a.pseudonymisation_key_conn_id:
        lines.append(("Pseudonym key", f"connection {a.pseudonymisation_key_conn_id} (secret; never shown)"))
    others = [v for v in history.versions if v.version != a.version]
    if others:
        lines.append(("Other versions", ", ".join(f"v{v.version} ({v.status_on(today)})" for v in others)))
    return lines


def population_lines(p: Population, kind: str = "sharing") -> list[tuple[str, str]]:
    """Whose records may go to a recipient, in words an IG officer reads: one (label, text) a rule."""
    if kind == "open_data":
        return [("Whose records", "aggregates of the portal publication it is built from (its agreement decides"
                                  " whose records that holds); no record leaves")]  # fmt: skip
    first, *rest = p.describe()
    out = [("Whose records", first.removeprefix("who: ") + (" — BULK DISCLOSURE" if p.is_bulk else ""))]
    return out + [("", line) for line in rest]


def _recipients_cell(a: Agreement, names: dict[str, str]) -> str:
    bulk = a.kind != "open_data"
    return ", ".join(
        f"{_party(r.partner, names)} ({r.level})" + (" BULK" if bulk and r.population.is_bulk else "")
        for r in a.recipients
    )


def _cell(transform: str, level: int, granted: set[int]) -> str:
    word = _SHORT[transform]
    return f"[{word}]" if level in granted and transform != "drop" else word


# --- plain text (the CLI) ----------------------------------------------------------------------


def show_text(a: Agreement, history: AgreementHistory, names: dict[str, str], today: date) -> str:
    out = [f"{a.ref}: {a.title}", ""]
    width = max(len(k) for k, _ in summary(a, history, names, today))
    out += [f"{k:<{width}}  {v}" for k, v in summary(a, history, names, today)]
    granted = {r.level for r in a.recipients}
    for ds in a.datasets:
        rows = [r for r in field_matrix(a) if r.dataset == ds]
        out += ["", f"Dataset {ds}: what is sent at each level ([ ] marks a level granted to a recipient)"]
        header = ("field", "classification", "from", "level 1", "level 2", "level 3", "level 4")
        table = [header] + [
            (
                r.name,
                r.classification,
                str(r.min_level),
                *(_cell(t, lv, granted) for lv, t in zip((1, 2, 3, 4), r.by_level, strict=True)),
            )
            for r in rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        out += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    used = sorted({t for r in field_matrix(a) for t in r.by_level if t != "drop"})
    out += ["", "Transforms: " + "; ".join(f"{_SHORT[t]} = {TRANSFORMS[t]}" for t in used)]
    return "\n".join(out)


def list_text(agreements: dict[str, AgreementHistory], names: dict[str, str], today: date) -> str:
    rows = [("agreement", "version", "status", "provider", "recipients (level)", "valid until")]
    for agreement_id in sorted(agreements):
        history = agreements[agreement_id]
        a = history.in_force(today) or history.latest
        rows.append(
            (
                agreement_id,
                str(a.version),
                a.status_on(today),
                a.provider,
                ", ".join(f"{r.partner} ({r.level})" for r in a.recipients),
                str(a.valid_until),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def diff_text(old: Agreement, new: Agreement) -> str:
    """What changed between two versions, in words; fields compared by name."""
    out = [f"{old.ref} -> {new.ref}"]

    def change(label: str, a, b) -> None:
        if a != b:
            out.append(f"  {label}: {a} -> {b}")

    for attr in ("title", "kind", "protocol", "provider", "purpose", "valid_from", "valid_until", "review_date"):
        change(attr, getattr(old, attr), getattr(new, attr))
    change("lawful basis", old.lawful_basis.describe(), new.lawful_basis.describe())
    change("pseudonymisation key connection", old.pseudonymisation_key_conn_id, new.pseudonymisation_key_conn_id)
    change("automation", _automation(old), _automation(new))
    old_r, new_r = {r.partner: r.level for r in old.recipients}, {r.partner: r.level for r in new.recipients}
    for p in sorted(old_r.keys() | new_r.keys()):
        a, b = old_r.get(p), new_r.get(p)
        if a is None:
            out.append(f"  recipient added: {p} at level {b} ({'; '.join(new.population_for(p).describe())})")
        elif b is None:
            out.append(f"  recipient removed: {p} (was level {a})")
        else:
            change(f"level granted to {p}", a, b)
            pa, pb = old.population_for(p), new.population_for(p)
            if pa != pb:
                out.append(f"  population of {p}: " + "; ".join(pa.describe()) + " -> " + "; ".join(pb.describe()))
    for p in sorted(old.sign_off.keys() | new.sign_off.keys()):
        change(f"sign-off by {p}", _signed(old, p), _signed(new, p))
    old_f = {(r.dataset, r.name): r for r in field_matrix(old)}
    new_f = {(r.dataset, r.name): r for r in field_matrix(new)}
    for key in sorted(old_f.keys() | new_f.keys()):
        a, b = old_f.get(key), new_f.get(key)
        where = f"{key[0]}.{key[1]}"
        if a is None:
            out.append(f"  field added: {where} (from level {b.min_level}, {b.classification})")
        elif b is None:
            out.append(f"  field removed: {where}")
        else:
            change(f"{where} min level", a.min_level, b.min_level)
            change(f"{where} classification", a.classification, b.classification)
            for level in (1, 2, 3, 4):
                change(f"{where} at level {level}", _SHORT[a.by_level[level - 1]], _SHORT[b.by_level[level - 1]])
            change(f"{where} description", a.description, b.description)
    if len(out) == 1:
        out.append("  no differences")
    return "\n".join(out)


def _automation(a: Agreement) -> str:
    return f"approved by {a.automation.by} on {a.automation.on}" if a.automation.approved else "not approved"


def _signed(a: Agreement, party: str) -> str:
    s = a.sign_off.get(party)
    return f"{s.name}, {s.role}, {s.date}" if s else "none"


# --- the register (Markdown and HTML) ----------------------------------------------------------


def register_markdown(agreements: dict[str, AgreementHistory], names: dict[str, str], today: date) -> str:
    out = [
        "# Register of data-sharing agreements",
        "",
        f"Generated by `crosswalk agreements register` on {today}. Status is as of that day.",
        "",
        "| agreement | version | status | provider | recipients (level) | valid until | review due |",
        "|---|---|---|---|---|---|---|",
    ]
    for agreement_id in sorted(agreements):
        h = agreements[agreement_id]
        a = h.in_force(today) or h.latest
        recips = _recipients_cell(a, names)
        out.append(
            f"| [{a.id}](#{a.id}) | {a.version} | {a.status_on(today)} | {_party(a.provider, names)} | {recips} "
            f"| {a.valid_until} | {a.review_date} |"
        )
    for agreement_id in sorted(agreements):
        h = agreements[agreement_id]
        a = h.in_force(today) or h.latest
        out += ["", f'<a id="{a.id}"></a>', f"## {a.id} v{a.version}: {_md(a.title)}", ""]
        out += [f"- **{k or '&nbsp;'}**: {_md(v)}" for k, v in summary(a, h, names, today)]
        granted = {r.level for r in a.recipients}
        for ds in a.datasets:
            out += ["", f"### Dataset `{ds}`", "", "Bold: a level granted to a recipient.", ""]
            out += [
                "| field | description | classification | from level | L1 | L2 | L3 | L4 |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for r in (r for r in field_matrix(a) if r.dataset == ds):
                cells = [
                    f"**{_SHORT[t]}**" if lv in granted and t != "drop" else _SHORT[t]
                    for lv, t in zip((1, 2, 3, 4), r.by_level, strict=True)
                ]
                out.append(
                    f"| `{r.name}` | {_md(r.description)} | {r.classification} | {r.min_level} | {' | '.join(cells)} |"
                )
    out += ["", "## Transforms", ""] + [f"- **{_SHORT[t]}** (`{t}`): {d}" for t, d in TRANSFORMS.items()]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def register_html(agreements: dict[str, AgreementHistory], names: dict[str, str], today: date) -> str:
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Register of data-sharing agreements</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}"
        "table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #b1b4b6;padding:.3rem .5rem;"
        "text-align:left;vertical-align:top}th{background:#f3f2f1}td.granted{background:#e8f1e8;font-weight:600}"
        "dl{display:grid;grid-template-columns:12rem 1fr;gap:.2rem 1rem}dt{font-weight:600}"
        ".status-active{color:#00703c}.status-expired,.status-draft{color:#d4351c}</style></head><body>",
        "<h1>Register of data-sharing agreements</h1>",
        f"<p>Generated by <code>crosswalk agreements register</code> on {today}. Status is as of that day.</p>",
        "<table><tr><th>agreement</th><th>version</th><th>status</th><th>provider</th>"
        "<th>recipients (level)</th><th>valid until</th><th>review due</th></tr>",
    ]
    for agreement_id in sorted(agreements):
        h = agreements[agreement_id]
        a = h.in_force(today) or h.latest
        status = a.status_on(today)
        recips = _recipients_cell(a, names)
        parts.append(
            f'<tr><td><a href="#{e(a.id)}">{e(a.id)}</a></td><td>{a.version}</td>'
            f'<td class="status-{status.split()[0]}">{e(status)}</td><td>{e(_party(a.provider, names))}</td>'
            f"<td>{e(recips)}</td><td>{a.valid_until}</td><td>{a.review_date}</td></tr>"
        )
    parts.append("</table>")
    for agreement_id in sorted(agreements):
        h = agreements[agreement_id]
        a = h.in_force(today) or h.latest
        parts.append(f'<h2 id="{e(a.id)}">{e(a.id)} v{a.version}: {e(a.title)}</h2><dl>')
        parts += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in summary(a, h, names, today)]
        parts.append("</dl>")
        granted = {r.level for r in a.recipients}
        for ds in a.datasets:
            parts.append(f"<h3>Dataset <code>{e(ds)}</code></h3><p>Shaded: a level granted to a recipient.</p>")
            parts.append(
                "<table><tr><th>field</th><th>description</th><th>classification</th><th>from level</th>"
                "<th>level 1</th><th>level 2</th><th>level 3</th><th>level 4</th></tr>"
            )
            for r in (r for r in field_matrix(a) if r.dataset == ds):
                cells = "".join(
                    f'<td class="granted">{e(_SHORT[t])}</td>'
                    if lv in granted and t != "drop"
                    else f"<td>{e(_SHORT[t])}</td>"
                    for lv, t in zip((1, 2, 3, 4), r.by_level, strict=True)
                )
                parts.append(
                    f"<tr><td><code>{e(r.name)}</code></td><td>{e(r.description)}</td><td>{e(r.classification)}</td>"
                    f"<td>{r.min_level}</td>{cells}</tr>"
                )
            parts.append("</table>")
    parts.append("<h2>Transforms</h2><dl>")
    parts += [f"<dt>{e(_SHORT[t])}</dt><dd>{e(d)} (<code>{e(t)}</code>)</dd>" for t, d in TRANSFORMS.items()]
    parts.append("</dl></body></html>")
    return "\n".join(parts) + "\n"
