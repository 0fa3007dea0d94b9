"""``crosswalk keygen``: a fresh age identity or agreement pseudonymisation key."""

from __future__ import annotations

import argparse
import sys

from crosswalk.cli._common import write_secret


def register(sub) -> None:
    keygen = sub.add_parser("keygen", help="generate an age X25519 identity (as age-keygen does)")
    keygen.add_argument("-o", "--output", help="write the identity here (mode 0600; never overwritten)")
    keygen.add_argument(
        "--pseudonymisation",
        action="store_true",
        help="instead, print a fresh agreement pseudonymisation key (64 hex digits) for its Airflow connection",
    )
    keygen.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.pseudonymisation:
        import secrets

        _emit(args, secrets.token_hex(32) + "\n")
        return 0
    from crosswalk.crypto.age import Identity, identity_file_text

    ident = Identity.generate()
    _emit(args, identity_file_text(ident))
    print(f"Public key: {ident.recipient}", file=sys.stderr)
    return 0


def _emit(args: argparse.Namespace, text: str) -> None:
    if args.output:
        write_secret(args.output, text)
    else:
        sys.stdout.write(text)
