"""The IG report: what was shared with whom, when, under which agreement and level, which fields,
how many rows, which file (by hash), who triggered it, what was quarantined and why, and whether
the audit chain verifies. Built from the audit store alone, as HTML (to read) and CSV (to filter).
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from crosswalk import atomic, auditchain

CSV_COLUMNS = [
    "time", "direction", "partner", "feed", "file", "sha256", "size", "rows", "agreement", "version", "level",
    "fields_sent", "fields_removed", "fields_transformed", "triggered_by", "approved_by", "outcome", "reason",
]  # fmt: skip


@dataclass
class Report:
    start: datetime
    end: datetime
    filters: dict[str, str]
    chain: auditchain.Verification
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per file crossing the boundary, or quarantined
    task_failures: list[dict[str, Any]] = field(default_factory=list)
    matching: list[dict[str, Any]] = field(default_factory=list)  # one per matching run (batch.matched)
    models: list[dict[str, Any]] = field(default_factory=list)  # each model trained or retrained


def _detail(ev: dict[str, Any]) -> dict[str, Any]:
    d = ev.get("detail")
    return json.loads(d) if isinstance(d, str) else (d or {})


def _time(v) -> str:
    return auditchain._time(v)[:19].replace("T", " ")


def build(
    engine: Engine, start: datetime, end: datetime, *, agreement: str | None = None, partner: str | None = None
) -> Report:
    with engine.connect() as conn:
        events = [
            dict(r)
            for r in conn.execute(
                text("SELECT * FROM audit_event WHERE event_time >= :s AND event_time < :e ORDER BY seq, event_time"),
                {"s": start, "e": end},
            ).mappings()
        ]
    filters = {k: v for k, v in (("agreement", agreement), ("partner", partner)) if v}
    report = Report(start, end, filters, auditchain.verify(engine))
    staged = {e["batch_id"]: e for e in events if e["event"] == "batch.staged"}
    for ev in events:
        d = _detail(ev)
        base = {
            "time": _time(ev["event_time"]),
            "partner": ev["partner"] or "",
            "feed": ev["feed_id"] or "",
            "file": ev["file_name"] or "",
            "sha256": (ev["file_sha256"] or "").strip(),
            "size": ev["file_size"] or "",
            "triggered_by": ev["triggered_by"] or "",
            "approved_by": d.get("approved_by", ""),
            "outcome": ev["outcome"],
            "reason": ev["reason"] or "",
        }
        if ev["event"] == "file.delivered":
            row = {
                **base,
                "direction": "out",
                "rows": ev["rows_out"],
                "agreement": d.get("agreement_id", ""),
                "version": d.get("agreement_version", ""),
                "level": d.get("level", ""),
                "fields_sent": ", ".join(d.get("fields_sent", [])),
                "fields_removed": ", ".join(d.get("fields_removed", [])),
                "fields_transformed": ", ".join(f"{k} ({v})" for k, v in d.get("fields_transformed", {}).items()),
            }
        elif ev["event"] == "file.received":
            st = staged.get(ev["batch_id"], {})
            row = {
                **base,
                "direction": "in",
                "rows": st.get("rows_out", ""),
                "agreement": "",
                "version": "",
                "level": "",
            }
            row.update(fields_sent="", fields_removed="", fields_transformed="")
        elif ev["event"] == "drop.quarantined":
            row = {**base, "direction": "in (quarantined)", "rows": "", "agreement": "", "version": "", "level": ""}
            row.update(fields_sent="", fields_removed="", fields_transformed="")
        else:
            if ev["event"] == "batch.matched" and (not partner or ev["partner"] == partner):
                report.matching.append(_matched(base, d, ev))
            elif ev["event"] in ("model.trained", "model.retrained") and (not partner or ev["partner"] == partner):
                report.models.append(_model(base, d, ev))
            if ev["event"] == "task.failed":
                report.task_failures.append(
                    {"time": base["time"], "task": f"{ev['dag_id']}.{ev['task_id']}", "reason": base["reason"]}
                )
            continue
        if agreement and row["agreement"] != agreement:
            continue
        if partner and row["partner"] != partner:
            continue
        report.rows.append(row)
    return report


def _matched(base: dict, d: dict, ev: dict) -> dict[str, Any]:
    """One matching run as the report shows it: counts, the model, and the estimate from reviewers' decisions."""
    q, delta, persons = d.get("quality") or {}, d.get("delta") or {}, d.get("person_ids") or {}
    if "estimated_precision" in q:
        quality = (
            f"precision {q['estimated_precision']:.4f}, recall {q['estimated_recall']:.4f}"
            f" (from {q['labelled_pairs']} clerical decisions)"
        )
    else:
        quality = str(q.get("estimate", "not recorded"))
    bands = d.get("bands") or {}
    return {
        "time": base["time"], "feed": base["feed"], "partner": base["partner"], "model": d.get("model_version", ""),
        "records": f"{ev['rows_in']} in the batch; {delta.get('linked', ev['rows_in'])} linked,"
                   f" {delta.get('carried', 0)} carried",
        "decisions": ", ".join(f"{k} {v}" for k, v in sorted(bands.items())) or "none",
        "linked_now": ev["rows_out"], "quality": quality,
        "persons": f"{persons.get('merges', 0)} merge(s), {persons.get('splits', 0)} split(s)" if persons else "",
        "triggered_by": base["triggered_by"],
    }  # fmt: skip


def _model(base: dict, d: dict, ev: dict) -> dict[str, Any]:
    if ev["event"] == "model.trained":
        what = f"trained {d.get('model_version', '')}: {d.get('why', '')}"
    else:
        state = "now in use" if d.get("activated") else "saved, not in use"
        old, new = d.get("on_labels_old") or {}, d.get("on_labels_new") or {}

        def scored(r: dict) -> str:
            return f"precision {r['precision']}, recall {r['recall']}" if r else "no model"

        what = (
            f"retrained by {d.get('by', '')}: {d.get('new_model_version', '')} ({state}; on"
            f" {new.get('labelled_pairs', 0)} reviewers' decisions: {scored(new)}) replacing"
            f" {d.get('old_model_version') or 'none'} ({scored(old)})"
        )
    return {"time": base["time"], "feed": base["feed"], "what": what}


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(report.rows)
    return buf.getvalue()


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:80rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}th,td{border:1px solid #b1b4b6;"
    "padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f3f2f1}"
    "code{font-size:.8em;word-break:break-all}td{overflow-wrap:anywhere}"
    ".ok{color:#00703c;font-weight:600}.bad{color:#d4351c;font-weight:600}.muted{color:#505a5f}"
)


def to_html(report: Report) -> str:
    e = html.escape
    last_day = report.end - timedelta(microseconds=1)
    period = f"{report.start:%Y-%m-%d} to {last_day:%Y-%m-%d}"
    chain_class = "ok" if report.chain.ok else "bad"
    out = [
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>Crosswalk IG report {period}</title>',
        f"<style>{_CSS}</style></head><body>",
        "<h1>Information governance report</h1>",
        f"<p>Period: <strong>{period}</strong> (whole days, UTC)."
        + (" Filters: " + ", ".join(f"{k} = {e(v)}" for k, v in report.filters.items()) + "." if report.filters else "")
        + f" Generated {datetime.now():%Y-%m-%d %H:%M}.</p>",
        f'<p>Audit chain: <span class="{chain_class}">{e(report.chain.summary())}</span></p>',
    ]
    shared = [r for r in report.rows if r["direction"] == "out"]
    received = [r for r in report.rows if r["direction"] == "in"]
    quarantined = [r for r in report.rows if r["direction"] == "in (quarantined)"]
    out.append(
        f"<p>{len(shared)} file(s) shared, {sum(int(r['rows'] or 0) for r in shared)} row(s); "
        f"{len(received)} file(s) received; {len(quarantined)} quarantined; "
        f"{len(report.task_failures)} task failure(s).</p>"
    )
    by_agreement: dict[str, list[dict]] = {}
    for r in shared:
        by_agreement.setdefault(f"{r['agreement']} v{r['version']}", []).append(r)
    out.append("<h2>Shared, by agreement</h2>")
    if not by_agreement:
        out.append('<p class="muted">Nothing was shared in this period.</p>')
    for ref, rows in sorted(by_agreement.items()):
        out.append(f"<h3>{e(ref)}</h3><table><tr><th>when</th><th>recipient</th><th>level</th><th>rows</th>"
                   "<th>fields sent</th><th>removed</th><th>transformed</th><th>file (sha256)</th>"
                   "<th>triggered by</th><th>approved by</th></tr>")  # fmt: skip
        for r in rows:
            out.append(
                f"<tr><td>{e(r['time'])}</td><td>{e(r['partner'])}</td><td>{e(str(r['level']))}</td>"
                f"<td>{e(str(r['rows']))}</td><td>{e(r['fields_sent'])}</td><td>{e(r['fields_removed'])}</td>"
                f"<td>{e(r['fields_transformed'])}</td><td>{e(r['file'])}<br><code>{e(r['sha256'])}</code></td>"
                f"<td>{e(r['triggered_by'])}</td><td>{e(str(r['approved_by']) or '—')}</td></tr>"
            )
        out.append("</table>")
    out.append("<h2>Received</h2>")
    header = ["when", "from", "feed", "rows staged", "file (sha256)", "triggered by"]
    cells = [[r["time"], r["partner"], r["feed"], str(r["rows"]), _file(r), r["triggered_by"]] for r in received]
    out.append(_table(header, cells))
    out.append("<h2>Quarantined</h2>")
    cells = [[r["time"], r["partner"], _file(r), r["reason"]] for r in quarantined]
    out.append(_table(["when", "from", "file (sha256)", "reason"], cells))
    out.append("<h2>Matching</h2>")
    header = ["when", "feed", "records", "decisions this run", "linked in the feed", "estimated quality",
              "person ids", "model", "triggered by"]  # fmt: skip
    cells = [
        [m["time"], m["feed"], m["records"], m["decisions"], str(m["linked_now"]), m["quality"], m["persons"],
         m["model"], m["triggered_by"]]
        for m in report.matching
    ]  # fmt: skip
    out.append(_table(header, cells))
    if report.models:
        out.append("<h3>Models trained and retrained</h3>")
        out.append(_table(["when", "feed", "what"], [[m["time"], m["feed"], m["what"]] for m in report.models]))
    out.append("<h2>Task failures</h2>")
    out.append(_table(["when", "task", "reason"], [[f["time"], f["task"], f["reason"]] for f in report.task_failures]))
    out.append('<p class="muted">Built from Crosswalk\'s audit store alone; values of records never appear in it.</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _file(r: dict) -> str:
    return f"{r['file']}\n{r['sha256']}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    if not rows:
        return '<p class="muted">None.</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(c).replace(chr(10), '<br>')}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write(report: Report, out_dir: Path, stem: str) -> list[tuple[Path, bytes]]:
    """Write the report as ``stem.html`` and ``stem.csv`` in ``out_dir``, each whole or not at all (a rerun
    replaces them; a reader never sees half of one). Returns each file with the bytes written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, body in ((".html", to_html(report)), (".csv", to_csv(report))):
        target, data = out_dir / f"{stem}{suffix}", body.encode("utf-8")
        atomic.write_bytes(target, data)
        written.append((target, data))
    return written
