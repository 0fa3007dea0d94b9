"""The file tools a partner needs too: ``encrypt``, ``decrypt``, ``sign``, ``verify``, ``manifest``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub) -> None:
    enc = sub.add_parser("encrypt", help="encrypt a file to age recipients (age v1 format)")
    enc.add_argument("-r", "--recipient", action="append", required=True, help="age1… recipient; repeatable")
    enc.add_argument("-o", "--output", help="output file (default: standard output)")
    enc.add_argument("input")
    enc.set_defaults(func=run_encrypt)

    dec = sub.add_parser("decrypt", help="decrypt an age file; nothing is left behind if it fails")
    dec.add_argument("-i", "--identity", action="append", required=True, help="identity file; repeatable")
    dec.add_argument("-o", "--output", help="output file (default: standard output)")
    dec.add_argument("input")
    dec.set_defaults(func=run_decrypt)

    sign = sub.add_parser("sign", help="sign a file with an Ed25519 SSH key (writes FILE.sig, as ssh-keygen -Y sign)")
    sign.add_argument("-k", "--key", required=True, help="OpenSSH Ed25519 private key file")
    sign.add_argument("-n", "--namespace", default="crosswalk-manifest")
    sign.add_argument("input")
    sign.set_defaults(func=run_sign)

    verify = sub.add_parser("verify", help="verify an SSH signature against pinned keys")
    verify.add_argument("--allowed-key", action="append", help="a pinned public key line; repeatable")
    verify.add_argument("--partner", help="use this partner's pinned signing keys from config")
    verify.add_argument("-s", "--signature", help="signature file (default: FILE.sig)")
    verify.add_argument("-n", "--namespace", default="crosswalk-manifest")
    verify.add_argument("input")
    verify.set_defaults(func=run_verify)

    man = sub.add_parser("manifest", help="write the manifest for an encrypted extract (what a partner drops)")
    man.add_argument("--feed", required=True)
    man.add_argument("--schema", required=True, help="table schema id, e.g. social_care_client")
    man.add_argument("--sender", required=True, help="your organisation code, e.g. northshire-council")
    man.add_argument("-r", "--recipient", action="append", required=True, help="age recipient it was encrypted to")
    man.add_argument("plain", help="the extract before encryption (to count rows and hash)")
    man.add_argument("encrypted", help="the .age file you will upload")
    man.set_defaults(func=run_manifest)


def run_encrypt(args: argparse.Namespace) -> int:
    from crosswalk.crypto import age

    if args.output:
        age.encrypt_file(Path(args.input), Path(args.output), args.recipient)
    else:
        with open(args.input, "rb") as src:
            age.encrypt(src, sys.stdout.buffer, args.recipient)
    return 0


def run_decrypt(args: argparse.Namespace) -> int:
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


def run_sign(args: argparse.Namespace) -> int:
    from crosswalk.crypto import sshsig

    key = sshsig.load_private_key(Path(args.key).read_bytes())
    with open(args.input, "rb") as f:
        Path(args.input + ".sig").write_text(sshsig.sign(f, key, args.namespace))
    print(f"Signed {args.input} -> {args.input}.sig", file=sys.stderr)
    return 0


def run_verify(args: argparse.Namespace) -> int:
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


def run_manifest(args: argparse.Namespace) -> int:
    from crosswalk.manifest import manifest_for_drop, manifest_name

    m = manifest_for_drop(
        args.plain, args.encrypted, feed=args.feed, schema_id=args.schema, sender=args.sender, recipients=args.recipient
    )
    out = Path(manifest_name(args.encrypted))
    out.write_bytes(m.to_json())
    print(f"Wrote {out}: {m.rows} rows, plaintext sha256 {m.plaintext_sha256[:16]}…, file sha256 {m.sha256[:16]}…")
    return 0
