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
    with pytest.raises(ManifestInvalid, match="names another data file"):
        parse_manifest(m.to_json(), "b.csv.age.manifest.json")


def _valid(tmp_path) -> dict:
    import json

    _, _, m = _manifest(tmp_path)
    return json.loads(m.to_json())


STRICT = {
    # what the partner sent: (the manifest's JSON text from a valid one, the code)
    "duplicate_key": (lambda d, t: t.replace('"feed": "f",', '"feed": "f", "feed": "g",'), "manifest_duplicate_key"),
    "number_as_string": (lambda d, t: {**d, "size": str(d["size"])}, "manifest_wrong_type"),
    "true_as_version": (lambda d, t: {**d, "manifest_version": True}, "manifest_wrong_type"),
    "float_rows": (lambda d, t: {**d, "rows": 2.0}, "manifest_wrong_type"),
    "top_level_list": (lambda d, t: [d["rows"]], "manifest_wrong_type"),
    "future_version": (lambda d, t: {**d, "manifest_version": 2}, "manifest_unknown_version"),
    "nested_list": (lambda d, t: {**d, "recipients": [d["recipients"]]}, "manifest_too_deep"),
    "deep_nesting": (lambda d, t: '{"a": ' + "[" * 20000 + "]" * 20000 + "}", "manifest_too_deep"),
    "nan": (lambda d, t: t.replace(f'"rows": {d["rows"]}', '"rows": NaN'), "manifest_not_json"),
    "latin_1": (lambda d, t: t.encode().replace(b'"org"', b'"\xe9"'), "manifest_not_json"),
    "negative_size": (lambda d, t: {**d, "size": -1}, "manifest_out_of_range"),
    "size_over_a_tebibyte": (lambda d, t: {**d, "size": 1 << 41}, "manifest_out_of_range"),
    "more_rows_than_bytes": (lambda d, t: {**d, "rows": d["plaintext_size"] + 1}, "manifest_out_of_range"),
    "sixty_five_recipients": (lambda d, t: {**d, "recipients": ["age1x"] * 65}, "manifest_out_of_range"),
    "unknown_key": (lambda d, t: {**d, "Jane Doe 1970-01-01": 1}, "manifest_invalid"),
}


@pytest.mark.parametrize("case", STRICT)
def test_strict_manifests_each_with_its_own_code(tmp_path, case):
    """A signed manifest must mean one thing to every reader; nothing a partner typed is repeated back."""
    import json

    edit, code = STRICT[case]
    d = _valid(tmp_path)
    out = edit(d, json.dumps(d))
    raw = out if isinstance(out, bytes) else (out if isinstance(out, str) else json.dumps(out)).encode()
    with pytest.raises(ManifestInvalid) as info:
        parse_manifest(raw, "clients_1.csv.age.manifest.json")
    assert info.value.code == code, info.value.reason
    assert "Jane" not in info.value.reason and len(info.value.reason) <= 300


def test_row_count_leaves_out_blank_lines_as_the_validator_does(tmp_path):
    from crosswalk.manifest import count_csv_rows

    path = tmp_path / "a.csv"
    path.write_text('id,note\n1,"x\n\ny"\n\n2,z\n\n')
    assert count_csv_rows(path) == 2
