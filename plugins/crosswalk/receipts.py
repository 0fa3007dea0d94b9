"""Receipts: a partner's proof that we received their drop, and what became of it.

For every drop taken in (staged, skipped or quarantined) the partner finds, in their inbox's ``receipts`` folder,
``crosswalk-receipt_<batch>.json`` and its SSH signature ``.sig``, made with our signing key (the key that signs
our deliveries) under its own namespace, so a receipt can never pass for a manifest. What AS2's signed MDNs give
managed-file-transfer users, with the tools a partner already has::

    ssh-keygen -Y verify -f crosswalk_allowed_signers -I <our operator code> -n crosswalk-receipt \\
        -s crosswalk-receipt_<batch>.json.sig < crosswalk-receipt_<batch>.json

A receipt holds ids, hashes, counts, a reason code and a time: never a record's values. Pure: the flow uploads it.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from datetime import datetime

from crosswalk.crypto import sshsig

NAMESPACE = "crosswalk-receipt"
FORMAT = "crosswalk-receipt/1"


@dataclass(frozen=True)
class Receipt:
    receiver: str  # our operator code
    sender: str  # the partner's code
    feed: str
    batch_id: str
    data_file: str  # the data file's name, as we show it (ordinary, or by hash)
    manifest_sha256: str
    file_sha256: str | None  # the encrypted file as received, once it was (a drop refused earlier has none)
    outcome: str  # staged | skipped | quarantined
    rows_staged: int | None
    reason_code: str | None  # why it was skipped or quarantined (docs/partners.md lists them)
    at: datetime  # when the outcome was recorded (UTC)

    def name(self) -> str:
        return f"crosswalk-receipt_{self.batch_id}.json"

    def body(self) -> bytes:
        doc = {"format": FORMAT, **asdict(self), "at": self.at.isoformat(timespec="seconds") + "Z"}
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    def signature(self, key) -> str:
        return sshsig.sign(io.BytesIO(self.body()), key, namespace=NAMESPACE)
