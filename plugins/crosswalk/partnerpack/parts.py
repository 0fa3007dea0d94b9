"""What the pack is made of: our public keys, the partner's server as we know it, what we send them, and the names
of the pack's files (shared by the pack and its guide)."""

from __future__ import annotations

from dataclasses import dataclass

from crosswalk.config.models.feeds import OutboundFeed
from crosswalk.crypto.sshsig import fingerprint
from crosswalk.schedules import MANUAL

RECIPIENTS_FILE = "crosswalk-recipients.txt"
OPENPGP_FILE = "crosswalk-openpgp.asc"


@dataclass(frozen=True)
class OurKeys:
    """Our public keys, as a partner needs them (derived from our secret keys, or given)."""

    signing_key: str  # OpenSSH public key line: what our manifests and receipts are signed with
    age_recipients: tuple[str, ...] = ()
    openpgp_public: str | None = None  # ASCII-armored
    openpgp_fingerprints: tuple[str, ...] = ()

    @property
    def signing_fingerprint(self) -> str:
        return fingerprint(self.signing_key)


@dataclass(frozen=True)
class SftpHint:
    """Where the partner's SFTP server is, as our connection to it knows (not secret); blanks when unknown."""

    host: str = ""
    port: int = 22


@dataclass(frozen=True)
class SentFeed:
    """An extract we deliver to the partner, as the agreement in force allows it at their level."""

    feed: OutboundFeed
    agreement_ref: str | None  # None: no version in force today
    level: int | None
    fields: tuple[tuple[str, str], ...]  # (field, transform), transform "pass" when sent as held


def schedule_words(schedule: str) -> str:
    """A feed's schedule as a partner reads it."""
    if schedule == MANUAL:
        return "when our operators run it (usually the working day you drop)"
    if schedule == "on_arrival":
        return "within minutes of your drop"
    return f"on the schedule {schedule!r} (cron, UTC)"
