"""The hostile and careless partner's catalogue: every kind of bad drop we know, as the partner would make it.

Each kind builds the files it puts in the partner's outbox (bytes, or a symlink, a directory or a FIFO in
place of one) with the standard tools (`age` encrypts, `ssh-keygen -Y sign` signs), and says what must become
of it: its terminal state and reason code. Every free-text field of every record carries the kind's marker
(``QQX<nn>MARK``), and so do some file names and manifest fields: the suite then proves no marker reaches a
log, a reason, a feedback file, the audit store, our tables or a delivered extract.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crosswalk.crypto import age
from crosswalk.demo.synthetic import CLIENT_COLUMNS, client_rows, people
from crosswalk.manifest import manifest_name, new_manifest, signature_name

FEED, SCHEMA, SENDER = "council-clients", "social_care_client", "northshire-council"
MARKER = "QQX{:02d}MARK"
MARKER_PATTERN = r"QQX\d\dMARK"
# The free-text fields a partner types into: each gets the marker, within the schema's length limits.
FREE_TEXT = [
    "forename",
    "surname",
    "address_line1",
    "allocated_worker",
    "allocated_team",
    "care_package_type",
    "assessment_type",
    "primary_support_reason",
]


@dataclass(frozen=True)
class Special:
    """Not a regular file: a symlink (to ``target``), a directory or a FIFO."""

    kind: str  # symlink | dir | fifo
    target: str = ""


Files = dict[str, "bytes | Special"]


@dataclass
class Partner:
    """Acts as the partner: makes extracts and drops with the standard tools."""

    recipient: str  # our age recipient
    signing_key: Path  # the partner's pinned key
    intruder_key: Path  # a key that is not pinned
    work: Path
    baseline: bytes = b""  # the plaintext of the good drop staged first

    def rows(self, marker: str, n: int = 6, seed: int = 7) -> list[dict[str, str]]:
        out = []
        for i, row in enumerate(client_rows(people(n, seed))):
            row = dict(row)
            for f in FREE_TEXT:
                row[f] = f"{marker}{f[:3]}{i}"
            row["source_id"] = f"{marker}{i:04d}"
            out.append(row)
        return out

    def matched_rows(self, n: int = 3, seed: int = 7) -> list[dict[str, str]]:
        """Rows of people on the board's index (the good day's), under new ids: matched, so they may leave."""
        return [{**row, "source_id": f"Q{i:04d}"} for i, row in enumerate(client_rows(people(n, seed)))]

    def csv(self, rows: list[dict[str, str]] | list[list[str]], header: list[str] | None = CLIENT_COLUMNS) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if header is not None:
            w.writerow(header)
        for r in rows:
            w.writerow([r.get(c, "") for c in CLIENT_COLUMNS] if isinstance(r, dict) else r)
        return buf.getvalue().encode()

    def encrypt(self, plain: bytes, recipient: str | None = None) -> bytes:
        return subprocess.run(
            ["age", "-e", "-r", recipient or self.recipient], input=plain, capture_output=True, check=True
        ).stdout

    def manifest(self, data_name: str, plain: bytes, enc: bytes, **overrides) -> dict:
        rows = max(sum(1 for _ in csv.reader(io.StringIO(plain.decode("utf-8", "replace"), newline=""))) - 1, 0)
        m = new_manifest(
            feed=FEED,
            schema_id=SCHEMA,
            sender=SENDER,
            file_name="placeholder.csv.age",  # the name as dropped is set below, whatever it is
            sha256=hashlib.sha256(enc).hexdigest(),
            size=len(enc),
            encryption="age",
            recipients=[self.recipient],
            plaintext_sha256=hashlib.sha256(plain).hexdigest(),
            plaintext_size=len(plain),
            rows=rows,
        )
        return {**json.loads(m.to_json()), "file_name": data_name, **overrides}

    def sign(self, raw: bytes, key: Path | None = None) -> bytes:
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            path = Path(tmp) / "m.json"
            path.write_bytes(raw)
            subprocess.run(
                ["ssh-keygen", "-q", "-Y", "sign", "-f", str(key or self.signing_key), "-n", "crosswalk-manifest",
                 str(path)],
                check=True,
                capture_output=True,
            )  # fmt: skip
            return Path(signature_name(str(path))).read_bytes()

    def drop(
        self,
        data_name: str,
        plain: bytes,
        *,
        enc: bytes | None = None,
        manifest: Callable[[dict], dict] | None = None,
        manifest_raw: Callable[[bytes], bytes] | None = None,
        after_signing: Callable[[bytes], bytes] | None = None,
        key: Path | None = None,
        data: bytes | Special | None = None,
    ) -> Files:
        """A whole drop; each hook breaks one step as a careless or hostile partner would."""
        enc = self.encrypt(plain) if enc is None else enc
        doc = self.manifest(data_name, plain, enc)
        raw = json.dumps(manifest(doc) if manifest else doc, indent=2).encode()
        raw = manifest_raw(raw) if manifest_raw else raw
        sig = self.sign(raw, key)
        raw = after_signing(raw) if after_signing else raw
        return {data_name: enc if data is None else data, manifest_name(data_name): raw, signature_name(
            manifest_name(data_name)): sig}  # fmt: skip


@dataclass(frozen=True)
class Kind:
    name: str
    state: str  # quarantined | skipped | waiting | unrouted | staged | taken_in_before
    code: str  # the reason code ("" where there is none)
    build: Callable[[Partner, str, str], Files]  # (partner, data file name, marker) -> files
    data_name: str = ""  # a name of its own (hostile names); else clients_h<nn>_<kind>.csv.age
    markers: bool = True  # False: the drop is staged, so it carries no marker (values are delivered as held)


def _flip(at: Callable[[int], int]) -> Callable[[bytes], bytes]:
    def edit(b: bytes) -> bytes:
        raw = bytearray(b)
        raw[at(len(raw))] ^= 0x01
        return bytes(raw)

    return edit


def _text(p: Partner, m: str, edit: Callable[[list[list[str]]], list[list[str]]]) -> bytes:
    rows = [CLIENT_COLUMNS] + [[r[c] for c in CLIENT_COLUMNS] for r in p.rows(m)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(edit(rows))
    return buf.getvalue().encode()


def _set(field: str, value: str, row: int = 1) -> Callable[[list[list[str]]], list[list[str]]]:
    def edit(rows):
        rows[row][CLIENT_COLUMNS.index(field)] = value
        return rows

    return edit


def _plain(p: Partner, m: str) -> bytes:
    return p.csv(p.rows(m))


def _large(p: Partner, m: str, n: int) -> bytes:
    return p.csv(p.rows(m) * n)


def _deep(p: Partner, name: str, m: str) -> Files:
    return p.drop(
        name, _plain(p, m), manifest_raw=lambda raw: raw[:-1] + b', "x": ' + b"[" * 20000 + b"]" * 20000 + b"}"
    )


def _dup_key(p: Partner, name: str, m: str) -> Files:
    return p.drop(
        name, _plain(p, m), manifest_raw=lambda raw: raw.replace(b'"feed": ', f'"feed": "{m}", "feed": '.encode(), 1)
    )


def _sig_over_other(p: Partner, name: str, m: str) -> Files:
    files = p.drop(name, _plain(p, m))
    files[signature_name(manifest_name(name))] = p.sign(b'{"another": "manifest"}')
    return files


def _huge_signature(p: Partner, name: str, m: str) -> Files:
    files = p.drop(name, _plain(p, m))
    files[signature_name(manifest_name(name))] += b"#" * 70_000
    return files


def _garbage_signature(p: Partner, name: str, m: str) -> Files:
    files = p.drop(name, _plain(p, m))
    files[signature_name(manifest_name(name))] = (
        f"-----BEGIN SSH SIGNATURE-----\n{m}\n-----END SSH SIGNATURE-----\n".encode()
    )
    return files


def _without(role: str) -> Callable[[Partner, str, str], Files]:
    def build(p: Partner, name: str, m: str) -> Files:
        files = p.drop(name, _plain(p, m))
        gone = {"data": name, "signature": signature_name(manifest_name(name))}[role]
        del files[gone]
        return files

    return build


def _special(role: str, special: Special) -> Callable[[Partner, str, str], Files]:
    def build(p: Partner, name: str, m: str) -> Files:
        files = p.drop(name, _plain(p, m))
        target = {"data": name, "manifest": manifest_name(name), "signature": signature_name(manifest_name(name))}
        files[target[role]] = special
        return files

    return build


def _stray(p: Partner, name: str, m: str) -> Files:
    return {name: f"please call {m} back\n".encode()}


def _partial_upload(p: Partner, name: str, m: str) -> Files:
    return {name + ".part": p.encrypt(_plain(p, m))}


def _twice_encrypted(p: Partner, name: str, m: str) -> Files:
    inner = p.encrypt(_plain(p, m))
    return p.drop(name, inner)


KINDS: list[Kind] = [
    # Files that are not there, or not files.
    Kind("data_file_missing", "quarantined", "missing_data_file", _without("data")),
    Kind("data_is_a_directory", "quarantined", "data_not_regular_file", _special("data", Special("dir"))),
    Kind("data_is_a_symlink", "quarantined", "data_not_regular_file", _special("data", Special("symlink", "../inbox"))),
    Kind("data_is_a_fifo", "quarantined", "data_not_regular_file", _special("data", Special("fifo"))),
    Kind(
        "manifest_is_a_symlink",
        "quarantined",
        "data_not_regular_file",
        _special("manifest", Special("symlink", "/etc/passwd")),
    ),
    Kind("signature_is_a_directory", "quarantined", "data_not_regular_file", _special("signature", Special("dir"))),
    Kind("no_signature_yet", "waiting", "", _without("signature")),
    Kind("upload_in_progress", "ignored", "", _partial_upload),
    Kind("stray_file_matching_no_feed", "unrouted", "", _stray, data_name="QQX{nn}MARK notes.txt"),
    # Sizes.
    Kind("data_over_max_bytes", "quarantined", "data_too_large", lambda p, n, m: p.drop(n, _large(p, m, 1000))),
    Kind(
        "decrypts_to_more_than_stated",
        "quarantined",
        "data_too_large",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "plaintext_size": d["plaintext_size"] // 2}),
    ),
    Kind(
        "manifest_over_64_kib",
        "quarantined",
        "manifest_too_large",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "note": m * 10_000}),
    ),
    Kind("signature_over_64_kib", "quarantined", "manifest_too_large", _huge_signature),
    # Manifests that could mean two things, or nothing.
    Kind("manifest_duplicate_key", "quarantined", "manifest_duplicate_key", _dup_key),
    Kind(
        "manifest_number_as_string",
        "quarantined",
        "manifest_wrong_type",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "rows": str(d["rows"])}),
    ),
    Kind(
        "manifest_true_as_version",
        "quarantined",
        "manifest_wrong_type",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "manifest_version": True}),
    ),
    Kind(
        "manifest_future_version",
        "quarantined",
        "manifest_unknown_version",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "manifest_version": 9}),
    ),
    Kind("manifest_nested_20000_deep", "quarantined", "manifest_too_deep", _deep),
    Kind(
        "manifest_not_json",
        "quarantined",
        "manifest_not_json",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest_raw=lambda raw: raw[:-3] + m.encode()),
    ),
    Kind(
        "manifest_latin_1",
        "quarantined",
        "manifest_not_json",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest_raw=lambda raw: raw.replace(b'"age"', b'"\xe2ge"')),
    ),
    Kind(
        "manifest_negative_size",
        "quarantined",
        "manifest_out_of_range",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "size": -1}),
    ),
    Kind(
        "manifest_key_not_in_format",
        "quarantined",
        "manifest_invalid",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, f"{m} Jane Doe": "1950-01-01"}),
    ),
    Kind(
        "manifest_other_sender",
        "quarantined",
        "manifest_invalid",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "sender": m}),
    ),
    Kind(
        "manifest_other_feed",
        "quarantined",
        "manifest_invalid",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "feed": m}),
    ),
    Kind(
        "manifest_names_another_file",
        "quarantined",
        "manifest_invalid",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "file_name": "clients_other.csv.age"}),
    ),
    Kind(
        "manifest_wrong_row_count",
        "quarantined",
        "manifest_invalid",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "rows": d["rows"] + 1}),
    ),
    # Who sent it.
    # Quarantined; then the partner fixes only the signature and it is staged: so it carries no marker.
    Kind(
        "signed_by_a_key_not_pinned",
        "quarantined",
        "unknown_signer",
        lambda p, n, m: p.drop(n, _plain(p, m), key=p.intruder_key),
        markers=False,
    ),
    Kind(
        "manifest_edited_after_signing",
        "quarantined",
        "signature_invalid",
        lambda p, n, m: p.drop(n, _plain(p, m), after_signing=lambda raw: raw.replace(b'"rows": 6', b'"rows": 7')),
    ),
    Kind("signature_over_another_manifest", "quarantined", "signature_invalid", _sig_over_other),
    Kind("signature_garbage", "quarantined", "signature_invalid", _garbage_signature),
    # The file on the way.
    Kind(
        "data_altered_after_manifest",
        "quarantined",
        "checksum_mismatch",
        lambda p, n, m: p.drop(n, _plain(p, m), data=_flip(lambda k: k // 2)(p.encrypt(_plain(p, m)))),
    ),
    Kind(
        "data_truncated",
        "quarantined",
        "size_mismatch",
        lambda p, n, m: p.drop(n, _plain(p, m), data=p.encrypt(_plain(p, m))[:-40]),
    ),
    Kind(
        "ciphertext_tampered_consistently",
        "quarantined",
        "decrypt_failed",
        lambda p, n, m: p.drop(n, _plain(p, m), enc=_flip(lambda k: k // 2)(p.encrypt(_plain(p, m)))),
    ),
    Kind(
        "encrypted_to_someone_else",
        "quarantined",
        "decrypt_failed",
        lambda p, n, m: p.drop(n, _plain(p, m), enc=p.encrypt(_plain(p, m), age.Identity.generate().recipient)),
    ),
    Kind(  # its manifest claims as much plaintext as the file holds: more than any age file can, refused first
        "not_encrypted_at_all",
        "quarantined",
        "manifest_out_of_range",
        lambda p, n, m: p.drop(n, _plain(p, m), enc=_plain(p, m)),
    ),
    Kind("age_inside_age", "quarantined", "schema_violation", _twice_encrypted),
    # What it holds.
    Kind("no_header_row", "quarantined", "schema_violation", lambda p, n, m: p.drop(n, _text(p, m, lambda r: r[1:]))),
    Kind(
        "unknown_column_named_with_data",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _text(p, m, lambda r: [[*r[0], f"{m} Jane"]] + [[*x, m] for x in r[1:]])),
    ),
    Kind(
        "column_missing",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _text(p, m, lambda r: [x[:-1] for x in r])),
    ),
    Kind(
        "not_utf8_near_start",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, b"source_id,chi_\xff\xfe" + _plain(p, m)[14:]),
    ),
    Kind(
        "utf16_with_bom",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _plain(p, m).decode().encode("utf-16")),
    ),
    Kind(
        "nul_in_a_field",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _text(p, m, _set("surname", f"{m}\x00x"))),
    ),
    Kind(
        "short_row",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _text(p, m, lambda r: [*r[:2], r[2][:5], *r[3:]])),
    ),
    Kind(
        "long_row",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _text(p, m, lambda r: [*r[:2], [*r[2], m], *r[3:]])),
    ),
    Kind(
        "blank_line",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _text(p, m, lambda r: [*r[:2], [], *r[2:]])),
    ),
    Kind(
        "mixed_line_ends",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _plain(p, m).replace(b"\n", b"\r\n", 2)),
    ),
    Kind(
        "fullwidth_digits_in_a_number",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _text(p, m, _set("weekly_hours", "\uff11\uff10\uff10\uff10"))),
    ),
    Kind(
        "arabic_indic_digits_in_a_date",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _text(p, m, _set("date_of_birth", "\u0661\u0669\u0665\u0660-01-01"))),
    ),
    Kind(
        "a_field_of_a_megabyte",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _text(p, m, _set("forename", m * 60_000))),
    ),
    Kind(
        "markers_in_every_field",
        "quarantined",
        "schema_violation",
        lambda p, n, m: p.drop(n, _text(p, m, lambda r: [r[0]] + [[m] * len(r[0]) for _ in r[1:]])),
    ),
    Kind("header_only", "quarantined", "empty_extract", lambda p, n, m: p.drop(n, p.csv([]))),
    # Names that try to forge lines or hide.
    Kind(
        "newline_in_file_name",
        "quarantined",
        "manifest_invalid",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "file_name": "clients_ok.csv.age"}),
        data_name="clients_h{nn}\nreason: accepted QQX{nn}MARK.csv.age",
    ),
    Kind(
        "terminal_escape_in_file_name",
        "quarantined",
        "manifest_invalid",
        lambda p, n, m: p.drop(n, _plain(p, m), manifest=lambda d: {**d, "file_name": "clients_ok.csv.age"}),
        data_name="clients_h{nn}\x1b[2J\x1b[HQQX{nn}MARK.csv.age",
    ),
    Kind(
        "name_of_200_characters",
        "quarantined",
        "checksum_mismatch",
        lambda p, n, m: p.drop(n, _plain(p, m), data=_flip(lambda k: k - 5)(p.encrypt(_plain(p, m)))),
        data_name="clients_h{nn}_" + "y" * 180 + ".csv.age",
    ),
    # Content we already hold, and values a spreadsheet would run (kept as held: a partner system reads them).
    Kind(
        "same_extract_under_a_new_name",
        "skipped",
        "duplicate_content",
        lambda p, n, m: p.drop(n, p.baseline),
        markers=False,
    ),
    Kind(
        "formula_like_values",
        "staged",
        "",
        lambda p, n, m: p.drop(
            n,
            p.csv(
                [
                    {  # in the fields a person is not matched by: matched, these people leave under the ISP
                        **r,
                        "allocated_worker": '=HYPERLINK("http://x")',
                        "address_line1": "@SUM(A1)",
                        "allocated_team": "+1-2",
                        "assessment_type": "-x",
                    }
                    for r in p.matched_rows(n=3)
                ]
            ),
        ),
        markers=False,
    ),
]


def data_name_of(index: int, kind: Kind) -> str:
    nn = f"{index:02d}"
    return kind.data_name.format(nn=nn) if kind.data_name else f"clients_h{nn}_{kind.name}.csv.age"
