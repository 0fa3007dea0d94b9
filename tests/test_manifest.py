from __future__ import annotations

import pytest

from crosswalk.crypto import age
from crosswalk.errors import ManifestInvalid
from crosswalk.manifest import extract_name, manifest_for_drop, parse_manifest

RECIPIENT = age.Identity.generate().recipient


def _manifest(tmp_path, name="clients_1.csv", text='id,note\n1,"two\nlines"\n2,x\n'):
    plain = tmp_path / name
    plain.write_text(text)
    enc = tmp_path / (name + ".age")
    age.encrypt_file(plain, enc, [RECIPIENT])
    return plain, enc, manifest_for_drop(plain, enc, feed="f", schema_id="s", sender="org", recipients=[RECIPIENT])


def test_round_trip_and_row_count_counts_records_not_lines(tmp_path):
    plain, enc, m = _manifest(tmp_path)
    assert m.rows == 2 and m.plaintext_size == plain.stat().st_size and m.size == enc.stat().st_size
    assert m.file_name == "clients_1.csv.age" and extract_name(m.file_name) == "clients_1.csv"
    assert parse_manifest(m.to_json(), "clients_1.csv.age.manifest.json") == m


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"feed": "f"}', "invalid field"),
        (b"x" * 70000, "larger than"),
    ],
)
def test_bad_manifests(raw, match):
    with pytest.raises(ManifestInvalid, match=match):
        parse_manifest(raw, "a.csv.manifest.json")


def test_manifest_must_name_the_file_beside_it(tmp_path):
    _, _, m = _manifest(tmp_path, "a.csv", "id\n1\n")
    with pytest.raises(ManifestInvalid, match=r"names file 'a\.csv\.age', expected 'b\.csv\.age'"):
        parse_manifest(m.to_json(), "b.csv.age.manifest.json")
