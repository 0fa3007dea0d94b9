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
    except ConfigErrors as exc:
        print(f"crosswalk check: FAILED\n{exc}", file=sys.stderr)
        return 1
    print(
        f"crosswalk check: OK: {cfg.config_dir}: {len(cfg.partners)} partner(s), {len(cfg.feeds)} feed(s), "
        f"{len(cfg.agreements)} agreement(s); {cfg.schemas_dir}: {len(cfg.schemas)} table schema(s)"
    )
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine

    from crosswalk.staging.migrations import upgrade

    applied = upgrade(create_engine(args.url))
    print(f"crosswalk db upgrade: applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from crosswalk.demo.run import run_demo

    return run_demo(Path(args.workdir), rows=args.rows)


def _cmd_keygen(args: argparse.Namespace) -> int:
    import os

    from crosswalk.crypto.age import Identity, identity_file_text

    ident = Identity.generate()
    text = identity_file_text(ident)
    if args.output:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
        with os.fdopen(fd, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    print(f"Public key: {ident.recipient}", file=sys.stderr)
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crosswalk", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate config/ and include/schemas/; exit 1 on any problem")
    check.add_argument("--config", type=Path, default=None, help="config directory (default: the bundle's)")
    check.add_argument("--schemas", type=Path, default=None, help="table-schema directory (default: the bundle's)")
    check.set_defaults(func=_cmd_check)

    db = sub.add_parser("db", help="staging and audit database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply the DDL in include/sql/migrations")
    up.add_argument("--url", required=True, help="SQLAlchemy URL, e.g. postgresql+psycopg://host/db")
    up.set_defaults(func=_cmd_db_upgrade)

    keygen = sub.add_parser("keygen", help="generate an age X25519 identity (as age-keygen does)")
    keygen.add_argument("-o", "--output", help="write the identity here (mode 0600; never overwritten)")
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
