"""``crosswalk audit``: the IG audit trail: verify the hash chain, export it, report a period."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crosswalk.cli._common import audit_engine, database_parent, day_start, iso_date, period


def register(sub) -> None:
    audit = sub.add_parser("audit", help="the IG audit trail: verify the hash chain, export it")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    db = database_parent()
    verify = audit_sub.add_parser(
        "verify", parents=[db], help="walk the chain; report the first broken link; exit 1 if broken"
    )
    verify.add_argument("--file", help="verify an export (JSON Lines) instead of the database")
    export = audit_sub.add_parser("export", parents=[db], help="events of a period as JSON Lines")
    export.add_argument(
        "--from", dest="date_from", type=iso_date, help="first day (YYYY-MM-DD; default: the beginning)"
    )
    export.add_argument("--to", dest="date_to", type=iso_date, help="last day, inclusive (default: today)")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    rep = audit_sub.add_parser("report", parents=[db], help="the IG report for a period (HTML and CSV)")
    rep.add_argument("--from", dest="date_from", type=iso_date, required=True, help="first day (YYYY-MM-DD)")
    rep.add_argument("--to", dest="date_to", type=iso_date, required=True, help="last day, inclusive (YYYY-MM-DD)")
    rep.add_argument("--agreement", help="only files shared under this agreement id")
    rep.add_argument("--partner", help="only files to or from this organisation code")
    rep.add_argument("-o", "--output", default="reports", help="directory for the .html and .csv")
    dis = audit_sub.add_parser(
        "disclosures",
        parents=[db],
        help="where has this person's data gone: every delivery and publication that carried their record",
        description="Every recipient, date, agreement, version, level and the fields this person's record carried,"
        " from the disclosure log alone (keyed hashes; no delivered file is opened). The identifier is hashed"
        " with our disclosure key (keys.disclosure_key_conn_id) before it is looked up, and never printed.",
    )
    who = dis.add_mutually_exclusive_group(required=True)
    who.add_argument("--chi", help="the person's CHI number (ten digits)")
    who.add_argument("--nhs-number", help="the person's NHS number (ten digits)")
    who.add_argument("--source-id", help="the record's id in the sending organisation's system")
    dis.add_argument("--csv", action="store_true", help="CSV on standard output instead of a table")
    audit.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return {"verify": _verify, "report": _report, "export": _export, "disclosures": _disclosures}[args.audit_command](
        args
    )


def _disclosures(args: argparse.Namespace) -> int:
    import csv

    from crosswalk import disclosures
    from crosswalk.cli._common import UsageError, disclosure_key

    given = {disclosures.CHI: ("--chi", args.chi), disclosures.NHS: ("--nhs-number", args.nhs_number),
             disclosures.SOURCE: ("--source-id", args.source_id)}  # fmt: skip
    kind, (option, value) = next((k, v) for k, v in given.items() if v[1])
    if not disclosures.is_identifier(kind, value):
        raise UsageError(f"{option}: not a {'record id' if kind == disclosures.SOURCE else 'ten-digit number'}")
    engine = audit_engine(args)
    found = disclosures.lookup(engine, disclosure_key(args), kind, value)
    header = ["disclosed at", "what", "to", "agreement", "level", "fields this record carried", "file or version",
              "why included"]  # fmt: skip
    rows = [
        [f"{f.disclosed_at:%Y-%m-%d %H:%M}", f.kind, f.recipient, f"{f.agreement_id} v{f.agreement_version}",
         str(f.level), ", ".join(f.fields_carried), f.file_name, _why(f)]
        for f in found
    ]  # fmt: skip
    if args.csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerows([header, *rows])
        return 0
    print(f"crosswalk audit disclosures: {len(found)} disclosure(s) carried this person's record")
    for r in rows:
        print("  " + "  ".join(r[:5]) + f"\n      fields: {r[5]}\n      file: {r[6]}\n      why: {r[7]}")
    return 0


def _why(found) -> str:
    """Why the person was in the disclosure: the rule that admitted them, and the recipient's population."""
    from crosswalk.config.models.population import ADMITTED, Population

    if found.admitted is None:  # logged before row rules existed
        return "logged before population rules: every record of the batch was sent"
    rule = "; ".join(Population.model_validate(found.population).describe()) if found.population else ""
    return ADMITTED.get(found.admitted, found.admitted) + (f" (population: {rule})" if rule else "")


def _verify(args: argparse.Namespace) -> int:
    from crosswalk import auditchain

    if args.file:
        with open(args.file, encoding="utf-8") as f:
            result = auditchain.verify_lines(f)
    else:
        result = auditchain.verify(audit_engine(args))
    print(f"crosswalk audit verify: {result.summary()}")
    return 0 if result.ok else 1


def _report(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from crosswalk import auditreport

    first, last = period(args.date_from, args.date_to)
    start, end = day_start(first), day_start(last) + timedelta(days=1)
    report = auditreport.build(audit_engine(args), start, end, agreement=args.agreement, partner=args.partner)
    out = Path(args.output)
    stem = f"ig-report_{args.date_from}_{args.date_to}"
    auditreport.write(report, out, stem)
    print(f"Wrote {out / stem}.html and .csv: {len(report.rows)} file event(s); {report.chain.summary()}")
    return 0 if report.chain.ok else 1


def _export(args: argparse.Namespace) -> int:
    """The period is [from, to] in whole days."""
    from datetime import timedelta

    from crosswalk import auditchain

    first, last = period(args.date_from, args.date_to)
    start = day_start(first)
    end = day_start(last) + timedelta(days=1) if last else None
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    n = 0
    try:
        for line in auditchain.export_lines(audit_engine(args), start, end):
            out.write(line + "\n")
            n += 1
    finally:
        if args.output:
            out.close()
    print(f"crosswalk audit export: {n} event(s)", file=sys.stderr)
    return 0
