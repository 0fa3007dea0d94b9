from __future__ import annotations

import pytest

from crosswalk.errors import ManifestInvalid
from crosswalk.manifest import manifest_for_file, parse_manifest


def test_round_trip_and_row_count_counts_records_not_lines(tmp_path):
    data = tmp_path / "clients_1.csv"
    data.write_text('id,note\n1,"two\nlines"\n2,x\n')
    m = manifest_for_file(data, feed="f", schema_id="s", sender="org")
    assert m.rows == 2 and m.size == data.stat().st_size
    assert parse_manifest(m.to_json(), "clients_1.csv.manifest.json") == m


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
    data = tmp_path / "a.csv"
    data.write_text("id\n1\n")
    raw = manifest_for_file(data, feed="f", schema_id="s", sender="o").to_json()
    with pytest.raises(ManifestInvalid, match=r"names file 'a\.csv', expected 'b\.csv'"):
        parse_manifest(raw, "b.csv.manifest.json")
