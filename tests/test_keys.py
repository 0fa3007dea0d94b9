"""Our keys from connection fields: rotation windows decide which identities are current."""

from __future__ import annotations

from datetime import date

import pytest

from crosswalk.crypto import age
from crosswalk.errors import ConfigError
from crosswalk.keys import current_identities, signing_key

OLD, NEW = age.Identity.generate(), age.Identity.generate()
EXTRA = {
    "identities": [
        {"key": OLD.secret(), "valid_until": "2026-12-31"},  # being retired
        {"key": NEW.secret(), "valid_from": "2026-12-01"},  # its successor, overlapping for December
    ]
}


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 11, 21), [OLD]),  # before the overlap: only the old key
        (date(2026, 12, 15), [OLD, NEW]),  # during it: both, so files to either key open
        (date(2027, 1, 1), [NEW]),  # after it: only the new one
    ],
)
def test_rotation_window(today, expected):
    got = current_identities(EXTRA, None, today, "c")
    assert [i.recipient for i in got] == [i.recipient for i in expected]


def test_single_identity_as_password_and_bad_entries():
    assert current_identities({}, NEW.secret(), date.today(), "c")[0].recipient == NEW.recipient
    with pytest.raises(ConfigError, match="not an age identity"):
        current_identities({"identities": [{"key": "nope"}]}, None, date.today(), "c")
    with pytest.raises(ConfigError, match="no signing key"):
        signing_key({}, None, "c")
