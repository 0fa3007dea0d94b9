"""The ``crosswalk`` command.

Subcommands import what they need lazily so ``crosswalk check`` stays quick and never pulls in
Airflow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_check(args: argparse.Namespace) -> int:
    from crosswalk.config.loader import load_config
    from crosswalk.errors import ConfigErrors

    try:
        cfg = load_config(args.config, args.schemas)
        if not args.offline:
            from crosswalk.orchestration.connections import connection_problems
            from crosswalk.orchestration.resources import missing_pools

            pools = missing_pools(cfg)
            problems = connection_problems(cfg) + (pools or [])
            if problems:
                raise ConfigErrors(problems)
            if pools is None:
                print("crosswalk check: warning: Airflow's metadata database is not reachable from here; the"
                      " SFTP pools were not checked", file=sys.stderr)  # fmt: skip
    except ConfigErrors as exc:
        print(f"crosswalk check: FAILED\n{exc}", file=sys.stderr)
        return 1
    for warning in cfg.warnings:
        print(f"crosswalk check: warning: {warning}", file=sys.stderr)
    secrets = "connections not resolved (--offline)" if args.offline else "every connection resolves"
    versions = sum(len(h.versions) for h in cfg.agreements.values())
    print(
        f"crosswalk check: OK: {cfg.config_dir}: {len(cfg.partners)} partner(s), {len(cfg.feeds)} feed(s), "
        f"{len(cfg.agreements)} agreement(s) ({versions} version(s)); {cfg.schemas_dir}: {len(cfg.schemas)} "
        f"table schema(s); {secrets}"
    )
    for line in _schedule_report(cfg, offline=args.offline):
        print(line)
    return 0


def _schedule_report(cfg, *, offline: bool) -> list[str]:
    """One line per feed that asks for more than manual: graduated, or held and why."""
    from crosswalk.orchestration.resources import schedule_decisions
    from crosswalk.schedules import MANUAL

    return [
        f"crosswalk check: schedule {d.feed_id}: {d.summary()}"
        for d in schedule_decisions(cfg, offline=offline).values()
        if d.requested != MANUAL
    ]


def _agreements_context(args: argparse.Namespace):
    from datetime import date

    from crosswalk.config.loader import load_config

    cfg = load_config(args.config, args.schemas, check_descriptors=False)
    names = {code: p.name for code, p in cfg.partners.items()}
    names[cfg.settings.operator.code] = cfg.settings.operator.name
    return cfg, names, args.on or date.today()


def _cmd_agreements(args: argparse.Namespace) -> int:
    from crosswalk.agreements import views
    from crosswalk.errors import ConfigErrors

    try:
        cfg, names, today = _agreements_context(args)
        if args.agreements_command == "list":
            print(views.list_text(cfg.agreements, names, today))
        elif args.agreements_command == "show":
            a = views.parse_ref(args.ref, cfg.agreements, today)
            print(views.show_text(a, cfg.agreements[a.id], names, today))
        elif args.agreements_command == "diff":
            old, new = (views.parse_ref(r, cfg.agreements, today) for r in (args.old, args.new))
            print(views.diff_text(old, new))
        else:  # register
            out = Path(args.output)
            out.mkdir(parents=True, exist_ok=True)
            (out / "register.md").write_text(views.register_markdown(cfg.agreements, names, today), encoding="utf-8")
            (out / "register.html").write_text(views.register_html(cfg.agreements, names, today), encoding="utf-8")
            print(f"Wrote {out / 'register.md'} and {out / 'register.html'} ({len(cfg.agreements)} agreement(s))")
    except (ConfigErrors, views.UnknownAgreement) as exc:
        print(f"crosswalk agreements: {exc}", file=sys.stderr)
        return 1
    return 0


def _audit_engine(args: argparse.Namespace):
    """The staging and audit database: ``--url``, else the configured connection (secrets backend)."""
    if args.url:
        from crosswalk.staging.db import make_engine

        return make_engine(args.url)
    from crosswalk.config.loader import load_config
    from crosswalk.orchestration.connections import engine_for

    return engine_for(load_config(args.config, check_descriptors=False).settings.database_conn_id)


def _day_start(text: str | None):
    from datetime import datetime

    return None if text is None else datetime.combine(_iso_date(text), datetime.min.time())


def _cmd_audit(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from crosswalk import auditchain

    if args.audit_command == "verify":
        if args.file:
            with open(args.file, encoding="utf-8") as f:
                result = auditchain.verify_lines(f)
        else:
            result = auditchain.verify(_audit_engine(args))
        print(f"crosswalk audit verify: {result.summary()}")
        return 0 if result.ok else 1
    if args.audit_command == "report":
        from crosswalk import auditreport

        start, end = _day_start(args.date_from), _day_start(args.date_to) + timedelta(days=1)
        report = auditreport.build(_audit_engine(args), start, end, agreement=args.agreement, partner=args.partner)
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        stem = f"ig-report_{args.date_from}_{args.date_to}"
        (out / f"{stem}.html").write_text(auditreport.to_html(report), encoding="utf-8")
        (out / f"{stem}.csv").write_text(auditreport.to_csv(report), encoding="utf-8")
        print(f"Wrote {out / stem}.html and .csv: {len(report.rows)} file event(s); {report.chain.summary()}")
        return 0 if report.chain.ok else 1
    # export: the period is [from, to] in whole days
    start = _day_start(args.date_from)
    end = _day_start(args.date_to) + timedelta(days=1) if args.date_to else None
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    n = 0
    try:
        for line in auditchain.export_lines(_audit_engine(args), start, end):
            out.write(line + "\n")
            n += 1
    finally:
        if args.output:
            out.close()
    print(f"crosswalk audit export: {n} event(s)", file=sys.stderr)
    return 0


def _cmd_review(args: argparse.Namespace) -> int:
    """Clerical review from the command line: list the pairs awaiting a decision, or decide one."""
    from crosswalk.audit import AuditLog, RunContext
    from crosswalk.pipeline.review import decide, pending

    engine = _audit_engine(args)
    if args.review_command == "list":
        rows = pending(engine, args.feed)
        print(f"{len(rows)} pair(s) of {args.feed} awaiting review")
        for r in rows:
            lead = "" if r.runner_up_weight is None else f", runner-up weight {r.runner_up_weight:.1f}"
            print(f"  {r.source_record_id} -> {r.candidate_record_id}: p={r.match_probability:.3f}, "
                  f"weight {r.match_weight:.1f}{lead}")  # fmt: skip
        return 0
    audit = AuditLog(engine, RunContext(task_id="crosswalk review", run_type="cli", triggered_by=args.by))
    try:
        decide(engine, audit, args.feed, args.record, args.outcome, args.by)
    except (LookupError, ValueError) as exc:
        print(f"crosswalk review: {exc}", file=sys.stderr)
        return 1
    print(f"crosswalk review: {args.feed}/{args.record}: {args.outcome}, decided by {args.by}")
    return 0


def _cmd_drops(args: argparse.Namespace) -> int:
    """Release a held drop (the cause was ours, now fixed), so the feed's next run takes it in again."""
    from crosswalk.audit import AuditLog, RunContext
    from crosswalk.staging import ledger

    engine = _audit_engine(args)
    try:
        batch = ledger.release_batch(engine, args.batch)
    except LookupError as exc:
        print(f"crosswalk drops: {exc}", file=sys.stderr)
        return 1
    AuditLog(engine, RunContext(task_id="crosswalk drops release", run_type="cli", triggered_by=args.by)).emit(
        "drop.released", "succeeded", feed_id=batch.feed_id, partner=batch.partner, batch_id=batch.batch_id,
        file_name=batch.file_name, reason=f"released by {args.by}",
    )  # fmt: skip
    print(f"crosswalk drops: {batch.batch_id} released; the next run of its feed takes the drop in again")
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    """Portal publications: list versions, or roll the view back to the previous version (audited)."""
    from crosswalk.audit import AuditLog, RunContext
    from crosswalk.config.loader import load_config
    from crosswalk.pipeline.publish import rollback_portal
    from crosswalk.publish import versions

    cfg = load_config(args.config) if args.config else load_config()
    try:
        feed = cfg.portal(args.name)
    except KeyError:
        names = ", ".join(f.id for f in cfg.feeds.values() if f.direction == "publish")
        print(f"crosswalk publish: no portal publication {args.name!r} (there are: {names})", file=sys.stderr)
        return 1
    engine = _audit_engine(args)
    if args.publish_command == "list":
        for v in versions.versions(engine, feed.id):
            agreement = f"{v.agreement_id} v{v.agreement_version} level {v.level}"
            print(f"  {v.publication_id:<32} {v.status:<12} {v.rows_out:>8} rows  {agreement}  from "
                  f"{', '.join(v.source_batches)}")  # fmt: skip
        return 0
    audit = AuditLog(engine, RunContext(task_id="crosswalk publish rollback", run_type="cli", triggered_by=args.by))
    try:
        came_from, went_to = rollback_portal(engine, audit, feed, args.by)
    except LookupError as exc:
        print(f"crosswalk publish: {exc}", file=sys.stderr)
        return 1
    print(f"crosswalk publish: {feed.table} now shows {went_to} (was {came_from}); rolled back by {args.by}")
    return 0


def _read_people(path: str):
    import pandas as pd

    from crosswalk.matching.link import PERSON_COLUMNS, person_columns

    frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in PERSON_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing person column(s) {missing} (need {', '.join(PERSON_COLUMNS)})")
    return frame[person_columns(frame)]


def _compared(*frames) -> str:
    from crosswalk.matching.link import optional_columns

    return ", ".join(sorted(optional_columns(*frames))) or "none"


def _cmd_match(args: argparse.Namespace) -> int:
    """The matching pipeline on files, for ops and benchmarks."""
    from crosswalk.matching.link import Thresholds, band_counts, link

    if args.match_command == "dedupe":
        from crosswalk.matching.dedupe import dedupe, golden_records

        try:
            people = _read_people(args.input)
        except (OSError, ValueError) as exc:
            print(f"crosswalk match: {exc}", file=sys.stderr)
            return 1
        clusters = dedupe(people, threshold=args.threshold)
        golden = golden_records(people, clusters)
        for frame, path in ((clusters, args.out), (golden, args.golden)):
            if path:
                frame.to_parquet(path, index=False) if path.endswith(".parquet") else frame.to_csv(path, index=False)
        print(
            f"crosswalk match dedupe: {len(clusters)} record(s) in {clusters['cluster_id'].nunique()} cluster(s); "
            f"optional columns compared: {_compared(people)}"
        )
        return 0
    try:
        left, right = _read_people(args.left), _read_people(args.right)
    except (OSError, ValueError) as exc:
        print(f"crosswalk match: {exc}", file=sys.stderr)
        return 1
    result = link(left, right, Thresholds(upper=args.upper, lower=args.lower, min_lead=args.min_lead))
    if args.out.endswith(".parquet"):
        result.to_parquet(args.out, index=False)
    else:
        result.to_csv(args.out, index=False)
    print(
        f"crosswalk match link: {len(result)} record(s) -> {args.out}: {band_counts(result)}; "
        f"optional columns compared: {_compared(left, right)}"
    )
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine

    from crosswalk.staging.migrations import upgrade

    applied = upgrade(create_engine(args.url))
    print(f"crosswalk db upgrade: applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")
    return 0


def _cmd_db_grant(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine

    from crosswalk.staging.grants import grant_task_role

    done = grant_task_role(create_engine(args.url), args.role)
    print(f"crosswalk db grant: {args.role}: " + "; ".join(done))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from crosswalk.demo.run import run_demo

    return run_demo(Path(args.workdir), rows=args.rows)


def _cmd_keygen(args: argparse.Namespace) -> int:
    from crosswalk.crypto.age import Identity, identity_file_text

    if args.pseudonymisation:
        import secrets

        text = secrets.token_hex(32) + "\n"
        if args.output:
            _write_secret(args.output, text)
        else:
            sys.stdout.write(text)
        return 0
    ident = Identity.generate()
    text = identity_file_text(ident)
    if args.output:
        _write_secret(args.output, text)
    else:
        sys.stdout.write(text)
    print(f"Public key: {ident.recipient}", file=sys.stderr)
    return 0


def _write_secret(path: str, text: str) -> None:
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _iso_date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _cmd_encrypt(args: argparse.Namespace) -> int:
    from crosswalk.crypto import age

    if args.output:
        age.encrypt_file(Path(args.input), Path(args.output), args.recipient)
    else:
        with open(args.input, "rb") as src:
            age.encrypt(src, sys.stdout.buffer, args.recipient)
    return 0


def _cmd_decrypt(args: argparse.Namespace) -> int:
    from crosswalk.crypto import age
    from crosswalk.errors import DecryptFailed

    identities = [i for f in args.identity for i in age.parse_identities(Path(f).read_text())]
    try:
        if args.output:
            age.decrypt_file(Path(args.input), Path(args.output), identities)
        else:
            with open(args.input, "rb") as src:
                age.decrypt(src, sys.stdout.buffer, identities)
    except DecryptFailed as exc:
        print(f"crosswalk decrypt: {args.input}: {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from crosswalk.crypto import sshsig

    key = sshsig.load_private_key(Path(args.key).read_bytes())
    with open(args.input, "rb") as f:
        Path(args.input + ".sig").write_text(sshsig.sign(f, key, args.namespace))
    print(f"Signed {args.input} -> {args.input}.sig", file=sys.stderr)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from crosswalk.crypto import sshsig
    from crosswalk.errors import SignatureInvalid, UnknownSigner

    keys = list(args.allowed_key or [])
    if args.partner:
        from crosswalk.config.loader import load_config

        keys += load_config(check_descriptors=False).partners[args.partner].signing_keys
    if not keys:
        print("crosswalk verify: no pinned keys (use --allowed-key or --partner)", file=sys.stderr)
        return 2
    try:
        with open(args.input, "rb") as f:
            fp = sshsig.verify(f, Path(args.signature or args.input + ".sig").read_text(), keys, args.namespace)
    except (SignatureInvalid, UnknownSigner) as exc:
        print(f"crosswalk verify: {args.input}: BAD: {exc}", file=sys.stderr)
        return 1
    print(f"Good {args.namespace!r} signature on {args.input} by {fp}")
    return 0


def _cmd_manifest(args: argparse.Namespace) -> int:
    from crosswalk.manifest import manifest_for_drop, manifest_name

    m = manifest_for_drop(
        args.plain, args.encrypted, feed=args.feed, schema_id=args.schema, sender=args.sender, recipients=args.recipient
    )
    out = Path(manifest_name(args.encrypted))
    out.write_bytes(m.to_json())
    print(f"Wrote {out}: {m.rows} rows, plaintext sha256 {m.plaintext_sha256[:16]}…, file sha256 {m.sha256[:16]}…")
    return 0


def _cmd_pools(args: argparse.Namespace) -> int:
    import json

    from crosswalk.config.loader import load_config
    from crosswalk.orchestration.sftp import pools

    text = json.dumps(pools(load_config(args.config, args.schemas, check_descriptors=False)), indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crosswalk", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate config/ and include/schemas/; exit 1 on any problem")
    check.add_argument("--config", type=Path, default=None, help="config directory (default: the bundle's)")
    check.add_argument("--schemas", type=Path, default=None, help="table-schema directory (default: the bundle's)")
    check.add_argument(
        "--offline",
        action="store_true",
        help="do not resolve connections through Airflow's secrets backends (for checking the repository "
        "itself; a deployment runs without it)",
    )
    check.set_defaults(func=_cmd_check)

    pool = sub.add_parser(
        "pools",
        help="the Airflow pools the DAGs use (one per partner: SFTP sessions at once), for `airflow pools import`",
    )
    pool.add_argument("--config", type=Path, default=None, help="config directory (default: the bundle's)")
    pool.add_argument("--schemas", type=Path, default=None, help="table-schema directory (default: the bundle's)")
    pool.add_argument("--out", type=Path, default=None, help="write the JSON here (default: standard output)")
    pool.set_defaults(func=_cmd_pools)

    ag = sub.add_parser("agreements", help="data-sharing agreements, as an IG officer reads them")
    ag_sub = ag.add_subparsers(dest="agreements_command", required=True)
    ag_common = argparse.ArgumentParser(add_help=False)
    ag_common.add_argument("--config", type=Path, default=None, help="config directory (default: the bundle's)")
    ag_common.add_argument("--schemas", type=Path, default=None, help="table-schema directory")
    ag_common.add_argument("--on", type=_iso_date, default=None, help="status as of this day (default: today)")
    ag_sub.add_parser("list", parents=[ag_common], help="every agreement: version in force, status, recipients")
    show = ag_sub.add_parser("show", parents=[ag_common], help="one agreement in full: who receives which fields")
    show.add_argument("ref", help="ID (the version in force, else the latest) or ID@VERSION")
    diff = ag_sub.add_parser("diff", parents=[ag_common], help="what changed between two versions")
    diff.add_argument("old", help="ID@VERSION")
    diff.add_argument("new", help="ID@VERSION")
    reg = ag_sub.add_parser("register", parents=[ag_common], help="write the register as Markdown and HTML")
    reg.add_argument("-o", "--output", default="register", help="directory for register.md and register.html")
    ag.set_defaults(func=_cmd_agreements)

    audit = sub.add_parser("audit", help="the IG audit trail: verify the hash chain, export it")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_common = argparse.ArgumentParser(add_help=False)
    audit_common.add_argument("--url", help="database URL (default: the configured connection, via Airflow)")
    audit_common.add_argument("--config", type=Path, default=None, help="config directory (default: the bundle's)")
    verify_audit = audit_sub.add_parser(
        "verify", parents=[audit_common], help="walk the chain; report the first broken link; exit 1 if broken"
    )
    verify_audit.add_argument("--file", help="verify an export (JSON Lines) instead of the database")
    export = audit_sub.add_parser("export", parents=[audit_common], help="events of a period as JSON Lines")
    export.add_argument("--from", dest="date_from", help="first day (YYYY-MM-DD; default: the beginning)")
    export.add_argument("--to", dest="date_to", help="last day, inclusive (default: today)")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    rep = audit_sub.add_parser("report", parents=[audit_common], help="the IG report for a period (HTML and CSV)")
    rep.add_argument("--from", dest="date_from", required=True, help="first day (YYYY-MM-DD)")
    rep.add_argument("--to", dest="date_to", required=True, help="last day, inclusive (YYYY-MM-DD)")
    rep.add_argument("--agreement", help="only files shared under this agreement id")
    rep.add_argument("--partner", help="only files to or from this organisation code")
    rep.add_argument("-o", "--output", default="reports", help="directory for the .html and .csv")
    audit.set_defaults(func=_cmd_audit)

    match = sub.add_parser("match", help="run the matching pipeline on CSV or Parquet files")
    match_sub = match.add_subparsers(dest="match_command", required=True)
    ml = match_sub.add_parser(
        "link", help="link LEFT (e.g. a social-care extract) to RIGHT (e.g. a CHI index); one row per LEFT record"
    )
    ml.add_argument(
        "left",
        help="CSV or .parquet with record_id, chi_number, forename, surname, date_of_birth, sex, postcode; "
        "optionally address and local_id (another identifier), compared when both files carry them",
    )
    ml.add_argument("right", help="the same columns")
    ml.add_argument("--out", required=True, help="result file (.csv or .parquet)")
    ml.add_argument("--upper", type=float, default=0.90, help="match probability for an automatic link")
    ml.add_argument("--lower", type=float, default=0.50, help="below this, no match; between, review")
    ml.add_argument("--min-lead", type=float, default=4.0, help="match weight the best must lead the runner-up by")
    md = match_sub.add_parser("dedupe", help="cluster one file's records; the CHI veto holds; golden records")
    md.add_argument("input", help="CSV or .parquet with the person columns")
    md.add_argument("--out", required=True, help="record_id, cluster_id, chi per record (.csv or .parquet)")
    md.add_argument("--golden", help="also write one golden record per cluster here")
    md.add_argument("--threshold", type=float, default=0.90, help="match probability for a probabilistic edge")
    match.set_defaults(func=_cmd_match)

    review = sub.add_parser("review", help="clerical review of uncertain matches")
    review_sub = review.add_subparsers(dest="review_command", required=True)
    rl = review_sub.add_parser("list", parents=[audit_common], help="pairs awaiting a decision")
    rl.add_argument("--feed", required=True, help="the source feed, e.g. council-clients")
    rd = review_sub.add_parser("decide", parents=[audit_common], help="decide one pair (audited)")
    rd.add_argument("--feed", required=True)
    rd.add_argument("record", help="the source record id")
    rd.add_argument("outcome", choices=["match", "no_match"])
    rd.add_argument("--by", required=True, help="who decides (recorded in the crosswalk and the audit trail)")
    review.set_defaults(func=_cmd_review)

    drops = sub.add_parser("drops", help="drops taken in: release one that was held")
    drops_sub = drops.add_subparsers(dest="drops_command", required=True)
    dr = drops_sub.add_parser(
        "release", parents=[audit_common], help="release a held drop (the cause was ours, now fixed); audited"
    )
    dr.add_argument("batch", help="the held batch id, as the task log and the audit event name it")
    dr.add_argument("--by", required=True, help="who releases it (recorded in the audit trail)")
    drops.set_defaults(func=_cmd_drops)

    publish = sub.add_parser("publish", help="portal publications: versions and rollback")
    publish_sub = publish.add_subparsers(dest="publish_command", required=True)
    pl = publish_sub.add_parser("list", parents=[audit_common], help="every version of a publication, newest first")
    pl.add_argument("name", help="the publication (feed id), e.g. social-care-summary")
    pr = publish_sub.add_parser(
        "rollback", parents=[audit_common], help="point the portal's view back at the previous version (audited)"
    )
    pr.add_argument("name", help="the publication (feed id), e.g. social-care-summary")
    pr.add_argument("--by", required=True, help="who rolls back (recorded in the audit trail)")
    publish.set_defaults(func=_cmd_publish)

    db = sub.add_parser("db", help="staging and audit database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply the DDL in include/sql/migrations")
    up.add_argument("--url", required=True, help="SQLAlchemy URL, e.g. postgresql+psycopg://host/db")
    up.set_defaults(func=_cmd_db_upgrade)
    grant = db_sub.add_parser(
        "grant", help="give a PostgreSQL role what feed tasks need, with insert-only access to audit_event"
    )
    grant.add_argument("--url", required=True, help="SQLAlchemy URL, connecting as the tables' owner")
    grant.add_argument("--role", required=True, help="the role the crosswalk_db connection of tasks logs in as")
    grant.set_defaults(func=_cmd_db_grant)

    keygen = sub.add_parser("keygen", help="generate an age X25519 identity (as age-keygen does)")
    keygen.add_argument("-o", "--output", help="write the identity here (mode 0600; never overwritten)")
    keygen.add_argument(
        "--pseudonymisation",
        action="store_true",
        help="instead, print a fresh agreement pseudonymisation key (64 hex digits) for its Airflow connection",
    )
    keygen.set_defaults(func=_cmd_keygen)

    enc = sub.add_parser("encrypt", help="encrypt a file to age recipients (age v1 format)")
    enc.add_argument("-r", "--recipient", action="append", required=True, help="age1… recipient; repeatable")
    enc.add_argument("-o", "--output", help="output file (default: standard output)")
    enc.add_argument("input")
    enc.set_defaults(func=_cmd_encrypt)

    dec = sub.add_parser("decrypt", help="decrypt an age file; nothing is left behind if it fails")
    dec.add_argument("-i", "--identity", action="append", required=True, help="identity file; repeatable")
    dec.add_argument("-o", "--output", help="output file (default: standard output)")
    dec.add_argument("input")
    dec.set_defaults(func=_cmd_decrypt)

    sign = sub.add_parser("sign", help="sign a file with an Ed25519 SSH key (writes FILE.sig, as ssh-keygen -Y sign)")
    sign.add_argument("-k", "--key", required=True, help="OpenSSH Ed25519 private key file")
    sign.add_argument("-n", "--namespace", default="crosswalk-manifest")
    sign.add_argument("input")
    sign.set_defaults(func=_cmd_sign)

    verify = sub.add_parser("verify", help="verify an SSH signature against pinned keys")
    verify.add_argument("--allowed-key", action="append", help="a pinned public key line; repeatable")
    verify.add_argument("--partner", help="use this partner's pinned signing keys from config")
    verify.add_argument("-s", "--signature", help="signature file (default: FILE.sig)")
    verify.add_argument("-n", "--namespace", default="crosswalk-manifest")
    verify.add_argument("input")
    verify.set_defaults(func=_cmd_verify)

    man = sub.add_parser("manifest", help="write the manifest for an encrypted extract (what a partner drops)")
    man.add_argument("--feed", required=True)
    man.add_argument("--schema", required=True, help="table schema id, e.g. social_care_client")
    man.add_argument("--sender", required=True, help="your organisation code, e.g. northshire-council")
    man.add_argument("-r", "--recipient", action="append", required=True, help="age recipient it was encrypted to")
    man.add_argument("plain", help="the extract before encryption (to count rows and hash)")
    man.add_argument("encrypted", help="the .age file you will upload")
    man.set_defaults(func=_cmd_manifest)

    demo = sub.add_parser("demo", help="run the embedded end-to-end demo (two local SFTP servers, SQLite)")
    demo.add_argument("--workdir", default=".demo", help="where the demo keeps its servers, keys and database")
    demo.add_argument("--rows", type=int, default=500, help="synthetic clients to generate")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
