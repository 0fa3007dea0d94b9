"""The IG report: what was shared with whom, when, under which agreement and level, which fields,
how many rows, which file (by hash), who triggered it, what was quarantined and why, and whether
the audit chain verifies. Built from the audit store alone, as HTML (to read) and CSV (to filter).
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from crosswalk import atomic, auditchain, charts
from crosswalk.config.models.population import WITHHELD_REASONS

CSV_COLUMNS = [
    "time", "kind", "direction", "partner", "feed", "file", "sha256", "size", "rows", "agreement", "version", "level",
    "fields_sent", "fields_removed", "fields_transformed", "triggered_by", "approved_by", "outcome", "reason",
    "population", "people_withheld",
]  # fmt: skip

# Each kind of disclosure or receipt, as the report names it; "direction" keeps the CSV's older values.
DELIVERY, PORTAL, OPEN_DATA = "delivery", "portal publication", "open-data release"
RECEIVED, QUARANTINED, SKIPPED = "received", "quarantined", "skipped"
DIRECTION = {DELIVERY: "out", PORTAL: "out (portal)", OPEN_DATA: "out (open data)", RECEIVED: "in",
             QUARANTINED: "in (quarantined)", SKIPPED: "in (skipped)"}  # fmt: skip
DISCLOSURES = (DELIVERY, PORTAL, OPEN_DATA)


@dataclass
class Report:
    start: datetime
    end: datetime
    filters: dict[str, str]
    chain: auditchain.Verification
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per disclosure, receipt or quarantine
    task_failures: list[dict[str, Any]] = field(default_factory=list)
    matching: list[dict[str, Any]] = field(default_factory=list)  # one per matching run (batch.matched)
    models: list[dict[str, Any]] = field(default_factory=list)  # each model trained or retrained
    decisions: list[dict[str, Any]] = field(default_factory=list)  # clerical review decisions
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)  # held runs, first unattended runs
    keys: list[dict[str, Any]] = field(default_factory=list)  # keys seen in use, per partner and role

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["kind"] in kinds]


def _detail(ev: dict[str, Any]) -> dict[str, Any]:
    d = ev.get("detail")
    return json.loads(d) if isinstance(d, str) else (d or {})


def _time(v) -> str:
    return auditchain._time(v)[:19].replace("T", " ")


RUN_TYPES = {"scheduled": "the schedule", "asset_triggered": "a drop's arrival (on_arrival)", "backfill": "a backfill"}


def who(triggered_by: str | None, run_type: str | None = None) -> str:
    """Who started it, as IG reads it: the person (the triggering user, or the CLI's --by), or which schedule."""
    by = triggered_by or run_type or ""
    return RUN_TYPES.get(by, by)


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
        first_unattended = {
            r.feed_id: r.first
            for r in conn.execute(
                text(
                    "SELECT feed_id, MIN(event_time) AS first FROM audit_event WHERE event = 'run.started'"
                    " AND run_type NOT IN ('manual', 'cli') GROUP BY feed_id"
                )
            )
        }
    filters = {k: v for k, v in (("agreement", agreement), ("partner", partner)) if v}
    report = Report(start, end, filters, auditchain.verify(engine))
    staged = {e["batch_id"]: e for e in events if e["event"] == "batch.staged"}
    opendata = _open_data_figures(events)
    keys: dict[tuple[str, str, str], dict[str, Any]] = {}
    for ev in events:
        d = _detail(ev)
        base = {
            "time": _time(ev["event_time"]),
            "partner": ev["partner"] or "",
            "feed": ev["feed_id"] or "",
            "file": ev["file_name"] or "",
            "sha256": (ev["file_sha256"] or "").strip(),
            "size": ev["file_size"] or "",
            "triggered_by": who(ev["triggered_by"], ev["run_type"]),
            "approved_by": d.get("approved_by", ""),
            "outcome": ev["outcome"],
            "reason": ev["reason"] or "",
            "agreement": "", "version": "", "level": "", "rows": "",
            "fields_sent": "", "fields_removed": "", "fields_transformed": "",
        }  # fmt: skip
        row = None
        if ev["event"] == "file.delivered":
            row = {**base, "kind": DELIVERY, "rows": ev["rows_out"], **_gated(d, "fields_sent", "fields_transformed")}
            for key in d.get("recipients") or []:
                _seen(keys, ev, "encrypted to (outbound)", key)
        elif ev["event"] == "portal.published":
            row = {
                **base, "kind": PORTAL, "rows": ev["rows_out"], "file": d.get("publication_id", ""),
                "sha256": d.get("content_sha256", ""), **_gated(d, "fields_published", "transforms"),
            }  # fmt: skip
        elif ev["event"] == "opendata.published":
            row = _open_data_row(base, d, ev, opendata)
        elif ev["event"] == "file.received":
            st = staged.get(ev["batch_id"], {})
            row = {**base, "kind": RECEIVED, "rows": st.get("rows_out", "")}
            if d.get("signed_by"):
                _seen(keys, ev, "signs manifests (inbound)", d["signed_by"])
        elif ev["event"] == "drop.quarantined":
            row = {**base, "kind": QUARANTINED, "reason_code": d.get("code", "")}
        elif ev["event"] == "drop.skipped" and (d.get("code") or "") == "duplicate_content":
            row = {**base, "kind": SKIPPED, "reason_code": "duplicate_content"}
        elif not partner or ev["partner"] == partner:
            _other(report, ev, d, base, first_unattended)
        if row is None:
            continue
        if agreement and row["agreement"] != agreement:
            continue
        if partner and row["partner"] != partner:
            continue
        report.rows.append({**row, "direction": DIRECTION[row["kind"]]})
    report.keys = sorted(keys.values(), key=lambda k: (k["partner"], k["role"], k["first"]))
    return report


def _gated(d: dict, sent: str, transformed: str) -> dict[str, Any]:
    """What the egress gate let through, from a delivery's or publication's event: fields, and people."""
    withheld = d.get("withheld") or {}
    return {
        "population": "; ".join(d.get("population") or []),
        "people_in": d.get("people_in", ""),
        "withheld": withheld,
        "people_withheld": "; ".join(f"{k} {v}" for k, v in withheld.items()),
        "agreement": d.get("agreement_id", ""),
        "version": d.get("agreement_version", ""),
        "level": d.get("level", ""),
        "fields_sent": ", ".join(d.get(sent, [])),
        "fields_removed": ", ".join(d.get("fields_removed", [])),
        "fields_transformed": ", ".join(f"{k} ({v})" for k, v in (d.get(transformed) or {}).items()),
    }


def _open_data_figures(events: list[dict]) -> dict[str, dict[str, Any]]:
    """Per open-data version: the staged figures (cells, suppression, agreement) and the approver."""
    out: dict[str, dict[str, Any]] = {}
    for ev in events:
        d = _detail(ev)
        pid = d.get("publication_id")
        if ev["event"] == "opendata.staged" and pid:
            out.setdefault(pid, {}).update(staged=d, rows=ev["rows_out"])
        elif ev["event"] == "opendata.approved" and pid:
            out.setdefault(pid, {}).update(approver=d.get("approver", ""))
    return out


def _open_data_row(base: dict, d: dict, ev: dict, figures: dict) -> dict[str, Any]:
    pid = d.get("publication_id", "")
    f = figures.get(pid, {})
    st = f.get("staged", {})
    suppressed = (st.get("suppressed_primary") or 0) + (st.get("suppressed_secondary") or 0)
    return {
        **base,
        "kind": OPEN_DATA,
        "partner": "the public",
        "file": pid,
        "sha256": d.get("content_sha256", ""),
        "rows": ev["rows_out"],
        "agreement": st.get("agreement_id", ""),
        "version": st.get("agreement_version", ""),
        "level": "public",
        "fields_sent": f"{st.get('cells', '?')} cells in {st.get('tables', '?')} table(s); {suppressed} suppressed"
        f" ({st.get('suppressed_primary', 0)} under 8, {st.get('suppressed_secondary', 0)} to protect them)",
        "fields_transformed": "counts rounded to 5; totals published",
        "approved_by": f.get("approver", ""),
        "reason": "to " + ", ".join(d.get("targets", [])),
    }


def _seen(keys: dict, ev: dict, role: str, key: str) -> None:
    shown = key if len(key) <= 72 else f"{key[:40]}…{key[-12:]}"
    entry = keys.setdefault(
        (ev["partner"] or "", role, key),
        {"partner": ev["partner"] or "", "role": role, "key": shown, "first": _time(ev["event_time"]), "uses": 0},
    )
    entry["last"] = _time(ev["event_time"])
    entry["uses"] += 1


def _other(report: Report, ev: dict, d: dict, base: dict, first_unattended: dict) -> None:
    """The events that are not a file crossing the boundary, each to its section."""
    name = ev["event"]
    if name == "batch.matched":
        report.matching.append(_matched(base, d, ev))
    elif name in ("model.trained", "model.retrained"):
        report.models.append(_model(base, d, ev))
    elif name == "review.decided":
        decision = {"outcome": d.get("outcome", ""), "by": d.get("approved_by", "")}
        report.decisions.append({"time": base["time"], "feed": base["feed"], **decision})
    elif name == "portal.rolled_back":
        by = base["reason"].removeprefix("rolled back by ")
        report.rollbacks.append(
            {"time": base["time"], "feed": base["feed"], "from": d.get("from", ""), "to": d.get("to", ""), "by": by}
        )
    elif name == "run.held":
        report.schedules.append({"time": base["time"], "feed": base["feed"], "what": f"run held: {base['reason']}"})
    elif name == "run.started" and ev["run_type"] not in ("manual", "cli"):
        if first_unattended.get(ev["feed_id"]) == ev["event_time"]:
            what = f"graduated: its first unattended run ({d.get('schedule', '')})"
            report.schedules.append({"time": base["time"], "feed": base["feed"], "what": what})
    elif name == "task.failed":
        report.task_failures.append(
            {"time": base["time"], "task": f"{ev['dag_id']}.{ev['task_id']}", "reason": base["reason"]}
        )


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
        "histogram": _score_chart(base, d),
    }  # fmt: skip


def _score_chart(base: dict, d: dict) -> str:
    """The run's records by their best candidate's match probability, the review band shaded."""
    histogram = d.get("score_histogram")
    if not histogram:
        return ""
    t = d.get("thresholds") or {}
    counts = [histogram[k] for k in sorted(histogram)]
    edges = [i / len(counts) for i in range(len(counts) + 1)]
    bands = [(t["lower"], t["upper"], "review band")] if "lower" in t and "upper" in t else []
    title = f"{base['feed']}, {base['time']}: records linked, by their best match probability"
    return charts.histogram(title, edges, counts, bands)


# Splink's weights run to hundreds where u is near 0; the chart shows them cut here (the title says so).
WEIGHT_SHOWN = 20.0


def _weights_chart(base: dict, d: dict, version: str) -> str:
    weights = d.get("match_weights") or {}
    if not weights:
        return ""
    labels = ["prior (before any comparison)" if k == "prior" else k for k in weights]
    values = [max(-WEIGHT_SHOWN, min(WEIGHT_SHOWN, w)) for w in weights.values()]
    title = f"{base['feed']}: match weights of {version} (log2 m/u; shown within ±{WEIGHT_SHOWN:g})"
    return charts.signed_bars(title, labels, values)


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
    version = d.get("model_version") or d.get("new_model_version") or ""
    return {"time": base["time"], "feed": base["feed"], "what": what, "weights_chart": _weights_chart(base, d, version)}


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
    "code{font-size:.8em;word-break:break-all}td{overflow-wrap:anywhere;min-width:4.5rem}"
    ".ok{color:#00703c;font-weight:600}.bad{color:#d4351c;font-weight:600}.muted{color:#505a5f}"
    ".charts{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}svg{max-width:100%;height:auto}"
)


def to_html(report: Report) -> str:
    e = html.escape
    last_day = report.end - timedelta(days=1)
    period = f"{report.start:%Y-%m-%d} to {last_day:%Y-%m-%d}"
    chain_class = "ok" if report.chain.ok else "bad"
    disclosed = report.of_kind(*DISCLOSURES)
    received, quarantined = report.of_kind(RECEIVED), report.of_kind(QUARANTINED)
    out = [
        "<!doctype html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>Crosswalk IG report {period}</title>',
        f"<style>{_CSS}</style></head><body>",
        "<h1>Information governance report</h1>",
        f"<p>Period: <strong>{period}</strong> (whole days, UTC)."
        + (" Filters: " + ", ".join(f"{k} = {e(v)}" for k, v in report.filters.items()) + "." if report.filters else "")
        + f" Generated {datetime.now():%Y-%m-%d %H:%M}.</p>",
        f'<p>Audit chain: <span class="{chain_class}">{e(report.chain.summary())}</span></p>',
        "<p>"
        + "; ".join(
            f"{len(report.of_kind(k))} {k}(s), {sum(int(r['rows'] or 0) for r in report.of_kind(k))} row(s)"
            for k in DISCLOSURES
        )
        + f"; {len(received)} file(s) received; {len(quarantined)} quarantined; {len(report.decisions)} clerical"
        f" decision(s); {len(report.task_failures)} task failure(s).</p>",
        '<div class="charts">',
        charts.stacked_bars("Files in and out, per partner, by week", *_weekly(report)),
        charts.stacked_bars("Drops rejected, by reason, by week", *_weekly_rejections(report)),
        "</div>",
        "<h2>Disclosures, by agreement</h2>",
        "<p>Every delivery, portal publication and open-data release, with what the agreement let through.</p>",
    ]
    by_agreement: dict[str, list[dict]] = {}
    for r in disclosed:
        by_agreement.setdefault(f"{r['agreement']} v{r['version']}", []).append(r)
    if not by_agreement:
        out.append('<p class="muted">Nothing was disclosed in this period.</p>')
    header = ["when", "what", "to", "level", "rows", "fields sent", "removed", "transformed", "file or version",
              "triggered by", "approved by"]  # fmt: skip
    for ref, rows in sorted(by_agreement.items()):
        out.append(f"<h3>{e(ref)}</h3>")
        cells = [[r["time"], r["kind"], r["partner"], str(r["level"]), str(r["rows"]), r["fields_sent"],
                  r["fields_removed"], r["fields_transformed"], _file(r), r["triggered_by"],
                  str(r["approved_by"]) or "—"]
                 for r in rows]  # fmt: skip
        out.append(_table(header, cells))
    out.append("<h2>People withheld, by reason</h2>")
    out.append("<p>For each record-level disclosure, the population rule of the recipient and how many people it"
               " withheld, by reason (counts only: nobody withheld is named anywhere).</p>")  # fmt: skip
    header = ["when", "what", "to", "feed", "population", "people considered", "people sent",
              *WITHHELD_REASONS.values()]  # fmt: skip
    cells = [
        [r["time"], r["kind"], r["partner"], r["feed"], r["population"] or "—", str(r["people_in"]), str(r["rows"]),
         *(str((r.get("withheld") or {}).get(k, 0)) for k in WITHHELD_REASONS)]
        for r in report.of_kind(DELIVERY, PORTAL) if r.get("population")
    ]  # fmt: skip
    out.append(_table(header, cells))
    out.append("<h2>By partner</h2>")
    out.append(_table(["partner", "files received", "rows staged", "quarantined", "deliveries", "rows sent",
                       "publications"], _by_partner(report)))  # fmt: skip
    out.append("<h2>Received</h2>")
    header = ["when", "from", "feed", "rows staged", "file (sha256)", "triggered by"]
    cells = [[r["time"], r["partner"], r["feed"], str(r["rows"]), _file(r), r["triggered_by"]] for r in received]
    out.append(_table(header, cells))
    out.append("<h2>Quarantined</h2>")
    counts = Counter(r.get("reason_code") or "?" for r in quarantined)
    if counts:
        out.append(_table(["reason code", "drops"], [[c, str(n)] for c, n in counts.most_common()]))
    cells = [[r["time"], r["partner"], _file(r), r["reason"]] for r in quarantined]
    out.append(_table(["when", "from", "file (sha256)", "reason"], cells))
    out.append("<h2>Clerical decisions</h2>")
    by_reviewer = Counter((d["by"], d["outcome"]) for d in report.decisions)
    out.append(
        _table(["reviewer", "outcome", "decisions"], [[b, o, str(n)] for (b, o), n in sorted(by_reviewer.items())])
    )
    out.append("<h2>Rollbacks</h2>")
    out.append(_table(["when", "publication", "from", "to", "by"],
                      [[r["time"], r["feed"], r["from"], r["to"], r["by"]] for r in report.rollbacks]))  # fmt: skip
    out.append("<h2>Schedules</h2>")
    out.append(_table(["when", "feed", "what"], [[r["time"], r["feed"], r["what"]] for r in report.schedules]))
    out.append("<h2>Keys in use</h2>")
    out.append("<p>Partners' signing keys (by fingerprint) and the keys we encrypted to; a partner with two keys in"
               " one role rotated in the period.</p>")  # fmt: skip
    out.append(_table(["partner", "role", "key", "first seen", "last seen", "uses"],
                      [[k["partner"], k["role"], k["key"], k["first"], k["last"], str(k["uses"])]
                       for k in report.keys]))  # fmt: skip
    out.append("<h2>Matching</h2>")
    header = ["when", "feed", "records", "decisions this run", "linked in the feed", "estimated quality",
              "person ids", "model", "triggered by"]  # fmt: skip
    cells = [
        [m["time"], m["feed"], m["records"], m["decisions"], str(m["linked_now"]), m["quality"], m["persons"],
         m["model"], m["triggered_by"]]
        for m in report.matching
    ]  # fmt: skip
    out.append(_table(header, cells))
    for m in report.matching:
        if m.get("histogram"):
            out.append(m["histogram"])
    if report.models:
        out.append("<h3>Models trained and retrained</h3>")
        out.append(_table(["when", "feed", "what"], [[m["time"], m["feed"], m["what"]] for m in report.models]))
        for m in report.models:
            if m.get("weights_chart"):
                out.append(m["weights_chart"])
    out.append("<h2>Task failures</h2>")
    out.append(_table(["when", "task", "reason"], [[f["time"], f["task"], f["reason"]] for f in report.task_failures]))
    out.append('<p class="muted">Built from Crosswalk\'s audit store alone; values of records never appear in it.</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _week(time: str) -> str:
    y, w, _ = datetime.fromisoformat(time).isocalendar()
    return f"{y}-W{w:02d}"


def _weeks(report: Report) -> list[str]:
    """Every ISO week the period touches, in order (a week with nothing still shows, as a gap)."""
    weeks, day = [], report.start
    while day < report.end:
        if (w := _week(day.isoformat())) not in weeks:
            weeks.append(w)
        day += timedelta(days=1)
    return weeks


def _weekly(report: Report) -> tuple[list[str], dict[str, list[int]]]:
    weeks = _weeks(report)
    series: dict[str, list[int]] = {}
    for r in report.of_kind(*DISCLOSURES, RECEIVED):
        series.setdefault(r["partner"] or "?", [0] * len(weeks))[weeks.index(_week(r["time"]))] += 1
    return weeks, dict(sorted(series.items())) or {"none": [0] * len(weeks)}


def _weekly_rejections(report: Report) -> tuple[list[str], dict[str, list[int]]]:
    weeks = _weeks(report)
    series: dict[str, list[int]] = {}
    for r in report.of_kind(QUARANTINED):
        series.setdefault(r.get("reason_code") or "?", [0] * len(weeks))[weeks.index(_week(r["time"]))] += 1
    return weeks, dict(sorted(series.items())) or {"none": [0] * len(weeks)}


def _by_partner(report: Report) -> list[list[str]]:
    partners = sorted({r["partner"] for r in report.rows if r["partner"]})
    out = []
    for p in partners:
        mine = [r for r in report.rows if r["partner"] == p]

        def n(kind: str, rows: list[dict] = mine) -> list[dict]:
            return [r for r in rows if r["kind"] == kind]

        out.append([p, str(len(n(RECEIVED))), str(sum(int(r["rows"] or 0) for r in n(RECEIVED))),
                    str(len(n(QUARANTINED))), str(len(n(DELIVERY))), str(sum(int(r["rows"] or 0) for r in n(DELIVERY))),
                    str(len(n(PORTAL)) + len(n(OPEN_DATA)))])  # fmt: skip
    return out


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
