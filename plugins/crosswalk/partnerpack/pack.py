"""Build one partner's pack from config and our public keys (pure: the CLI writes the files)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from importlib.resources import files

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models.feeds import InboundFeed, OutboundFeed
from crosswalk.config.models.partners import Partner
from crosswalk.crypto.sshsig import MANIFEST_NAMESPACE
from crosswalk.partnerpack.guide import guide
from crosswalk.partnerpack.parts import OPENPGP_FILE, RECIPIENTS_FILE, OurKeys, SentFeed, SftpHint
from crosswalk.receipts import NAMESPACE as RECEIPT_NAMESPACE

SCRIPTS = ("drop.sh", "drop.ps1")


@dataclass(frozen=True)
class Pack:
    partner: Partner
    files: dict[str, bytes]  # name -> content; drop.sh is written executable


def script(name: str) -> bytes:
    return files("crosswalk.partnerpack").joinpath("scripts", name).read_bytes()


def build_pack(cfg: ProjectConfig, code: str, keys: OurKeys, *, today: date, sftp: SftpHint | None = None) -> Pack:
    partner = cfg.partners[code]
    method = partner.encryption.method
    inbound = [f for f in cfg.feeds.values() if isinstance(f, InboundFeed) and f.partner == code]
    sent = [_sent(cfg, f, today) for f in cfg.feeds.values() if isinstance(f, OutboundFeed) and f.partner == code]
    if method == "age" and not keys.age_recipients:
        raise ValueError("an age partner's pack needs our age recipient")
    if method == "openpgp" and not keys.openpgp_public:
        raise ValueError("an OpenPGP partner's pack needs our OpenPGP public key")
    out: dict[str, bytes] = {name: script(name) for name in SCRIPTS}
    out["drop.conf"] = _drop_conf(cfg, partner, sftp or SftpHint(), today).encode()
    out["feeds.conf"] = _feeds_conf(cfg, inbound).encode()
    recipients = keys.age_recipients if method == "age" else keys.openpgp_fingerprints
    out[RECIPIENTS_FILE] = (
        f"# What your files are encrypted to, and what your manifests list as recipients ({method}).\n"
        + "".join(f"{r}\n" for r in recipients)
    ).encode()
    if method == "openpgp":
        out[OPENPGP_FILE] = keys.openpgp_public.encode()
    out["allowed_signers"] = allowed_signers_line(cfg.settings.operator.code, keys.signing_key).encode()
    out["GUIDE.md"] = guide(cfg, partner, keys, inbound, sent, today=today).encode()
    return Pack(partner, out)


def allowed_signers_line(operator: str, key_line: str) -> str:
    """Our key for ``ssh-keygen -Y verify``: for our manifests and our receipts, and nothing else."""
    key_type, blob = key_line.split()[:2]
    return f'{operator} namespaces="{MANIFEST_NAMESPACE},{RECEIPT_NAMESPACE}" {key_type} {blob}\n'


def _sent(cfg: ProjectConfig, feed: OutboundFeed, today: date) -> SentFeed:
    current = cfg.agreements[feed.agreement].in_force(today)
    level = current.level_for(feed.partner) if current else None
    if current is None or level is None:
        return SentFeed(feed, current.ref if current else None, None, ())
    schema = cfg.schemas[cfg.dataset_of(feed)]
    catalogue = current.datasets.get(schema.id)
    fields = catalogue.fields if catalogue else {}
    chosen = [(c, fields[c].transform_at(level)) for c in schema.field_names if c in fields]
    return SentFeed(feed, current.ref, level, tuple((c, t) for c, t in chosen if t != "drop"))


def _drop_conf(cfg: ProjectConfig, partner: Partner, sftp: SftpHint, today: date) -> str:
    paths = partner.sftp.paths
    return f"""\
# Crosswalk drop settings for {partner.name}, written by `crosswalk partner pack` on {today.isoformat()}.
# One setting per line, name = value; a later line wins. drop.sh and drop.ps1 read this file, never run it.
# Lines marked (yours) are for you to fill in; the rest come from our configuration: change them only if we ask.

sender = {partner.code}
encryption = {partner.encryption.method}
outbox = {paths.outbox}
inbox = {paths.inbox}

# Your SFTP server and your login to it (yours). The host key is checked against known_hosts, never taken on
# trust: connect once with `sftp -P PORT USER@HOST`, compare the fingerprint with your IT's, then answer yes.
sftp_host ={f" {sftp.host}" if sftp.host else ""}
sftp_port = {sftp.port}
sftp_user =
# Private key you log in with (blank: ssh's usual keys and agent), and a known_hosts file (blank: ssh's own).
login_key =
known_hosts =

# The private key you sign manifests with (yours): we hold its .pub, pinned in our configuration.
signing_key = ~/.ssh/crosswalk_signing
# OpenPGP only: your own key in gpg that signs what you send (its fingerprint or email).
openpgp_signer =
"""


def _feeds_conf(cfg: ProjectConfig, inbound: list[InboundFeed]) -> str:
    lines = ["# feed|schema|file name pattern|the schema's columns (any order, each once, no others)"]
    for f in inbound:
        lines.append(f"{f.id}|{f.schema_id}|{f.file_pattern}|{','.join(cfg.schemas[f.schema_id].field_names)}")
    return "\n".join(lines) + "\n"
