"""``crosswalk partner pack``: everything one partner needs to drop files and read what we send them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crosswalk.cli._common import UsageError, config_parent


def register(sub) -> None:
    partner = sub.add_parser("partner", help="what a partner organisation is given")
    verbs = partner.add_subparsers(dest="partner_command", required=True)
    pack = verbs.add_parser(
        "pack",
        parents=[config_parent()],
        help="write a partner's onboarding pack: guide, our public keys, drop scripts for Linux/macOS and Windows",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Our public keys come from the connections that hold our secret keys (as `crosswalk check` reads"
        " them),\nunless given here. Example:\n  crosswalk partner pack northshire-council -o packs/northshire-council",
    )
    pack.add_argument("partner", help="the partner's code (config/partners/<code>.yaml)")
    pack.add_argument("-o", "--output", type=Path, required=True, help="a new or empty directory to write the pack to")
    pack.add_argument("--age-recipient", action="append", help="our age recipient (age1…), instead of the connection's")
    pack.add_argument("--signing-key-pub", type=Path, help="our signing key's .pub file, instead of the connection's")
    pack.add_argument("--openpgp-public", type=Path, help="our armored OpenPGP public key, instead of the connection's")
    pack.set_defaults(func=run_pack)


def run_pack(args: argparse.Namespace) -> int:
    from datetime import date

    from crosswalk.config.loader import load_config
    from crosswalk.partnerpack.pack import build_pack

    cfg = load_config(args.config, args.schemas, check_descriptors=False)
    if args.partner not in cfg.partners:
        raise UsageError(f"no partner {args.partner!r}; partners: {', '.join(sorted(cfg.partners))}")
    out: Path = args.output
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} exists and is not an empty directory: give a new one")
    partner = cfg.partners[args.partner]
    pack = build_pack(cfg, args.partner, _our_keys(args, cfg, partner.encryption.method), today=date.today(),
                      sftp=_sftp_hint(partner.sftp.conn_id))  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    for name, content in pack.files.items():
        path = out / name
        path.write_bytes(content)
        path.chmod(0o755 if name == "drop.sh" else 0o644)
    print(f"crosswalk partner pack: {len(pack.files)} files for {partner.name} in {out}", file=sys.stderr)
    print("  send the folder to the partner; confirm our key fingerprints with them by phone (GUIDE.md lists them)")
    return 0


def _our_keys(args: argparse.Namespace, cfg, method: str):
    from crosswalk.crypto import openpgp, sshsig
    from crosswalk.partnerpack.pack import OurKeys
    from crosswalk.transfer.hostkeys import parse_host_key

    if args.signing_key_pub:
        line = args.signing_key_pub.read_text().strip()
        parse_host_key(line)  # the whole key, checked
        signing = " ".join(line.split()[:2])
    else:
        from crosswalk.orchestration.connections import signing_key

        signing = sshsig.public_key_line(_resolved(lambda: signing_key(cfg), "--signing-key-pub").public_key())
    recipients: tuple[str, ...] = ()
    pgp, fprs = None, ()
    if method == "age":
        if args.age_recipient:
            from crosswalk.crypto.age import parse_recipient

            for r in args.age_recipient:
                parse_recipient(r)  # a recipient that does not parse fails here, not at the partner's first drop
            recipients = tuple(args.age_recipient)
        else:
            from crosswalk.orchestration.connections import age_identities

            recipients = tuple(i.recipient for i in _resolved(lambda: age_identities(cfg), "--age-recipient"))
    else:
        if args.openpgp_public:
            pgp = args.openpgp_public.read_text()
        else:
            from crosswalk.orchestration.connections import openpgp_secret

            secret = _resolved(lambda: openpgp_secret(cfg), "--openpgp-public")
            if not secret:
                raise UsageError("an OpenPGP partner needs our OpenPGP key: set keys.openpgp_key_conn_id")
            pgp = openpgp.public_key(secret)
        fprs = tuple(openpgp.fingerprints(pgp))
    return OurKeys(signing_key=signing, age_recipients=recipients, openpgp_public=pgp, openpgp_fingerprints=fprs)


def _resolved(read, option: str):
    from crosswalk.errors import ConfigError

    try:
        return read()
    except ConfigError as exc:
        raise UsageError(f"{exc}; run where Airflow's connections are, or give {option}") from exc


def _sftp_hint(conn_id: str):
    """The partner server's host and port from our connection to it, when it resolves here (they are not
    secret); blanks otherwise, for the partner to fill in."""
    from crosswalk.errors import ConfigError
    from crosswalk.partnerpack.pack import SftpHint

    try:
        from crosswalk.orchestration.connection_types import connection

        conn = connection(conn_id)
    except (ConfigError, ImportError):
        return SftpHint()
    return SftpHint(conn.host or "", conn.port or 22)
