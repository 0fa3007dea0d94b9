"""Our connection types as Airflow sees them: the provider entry point validates against Airflow's own
schema, the UI metadata lists each type with its fields, and what the Add Connection form stores is what
each hook parses. A wrong type or a malformed key fails with the field named and the secret never shown."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from crosswalk import provider_info
from crosswalk.crypto import age
from crosswalk.errors import ConfigError
from crosswalk.orchestration.connection_types import (
    HOOKS,
    AgeIdentitiesHook,
    HttpEndpointHook,
    PseudonymisationKeyHook,
    SigningKeyHook,
)
from tests.support.project import EnvPatch

PEM = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()


def _conn(conn_id: str, **fields) -> EnvPatch:
    return EnvPatch({f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(fields)})


def test_the_entry_point_is_a_valid_airflow_provider_and_every_type_has_its_hook():
    import importlib.metadata

    import jsonschema
    from airflow.providers_manager import ProvidersManager

    (ep,) = [
        e for e in importlib.metadata.entry_points(group="apache_airflow_provider") if e.value.startswith("crosswalk")
    ]
    info = ep.load()()
    schema = json.loads((importlib.resources.files("airflow") / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    declared = {c["connection-type"]: c for c in info["connection-types"]}
    assert set(declared) == set(HOOKS) == set(provider_info.ACCEPTED)
    for conn_type, hook in HOOKS.items():
        assert declared[conn_type]["hook-class-name"] == f"{hook.__module__}.{hook.__qualname__}"
        assert hook.hook_name == declared[conn_type]["hook-name"]

    pm = ProvidersManager()
    metadata = {m.connection_type: m for m in pm.iter_connection_type_hook_ui_metadata()}
    assert metadata["crosswalk_age"].hook_name.startswith("Crosswalk: age identities")
    widgets = pm._connection_form_widgets_from_metadata
    assert widgets["extra__crosswalk_signing_key__private_key"].field["schema"]["format"] == "multiline"
    assert widgets["extra__crosswalk_age__previous_secret_key"].is_sensitive
    assert pm.field_behaviours["crosswalk_pseudonymisation_key"]["hidden_fields"] == [
        "host", "schema", "login", "port", "extra"
    ]  # fmt: skip


def test_the_age_form_with_a_rotation_in_progress_gives_both_identities_until_the_old_one_ends():
    old, new = age.Identity.generate(), age.Identity.generate()
    end = (date.today() + timedelta(days=30)).isoformat()
    form = {"conn_type": "crosswalk_age", "password": new.secret()}
    form["extra"] = {"valid_until": "", "previous_secret_key": old.secret(), "previous_valid_until": end}
    with _conn("k_age", **form):
        hook = AgeIdentitiesHook("k_age")
        assert [i.recipient for i in hook.identities(date.today())] == [new.recipient, old.recipient]
        assert [i.recipient for i in hook.identities(date.today() + timedelta(days=31))] == [new.recipient]
        assert hook.test_connection() == (True, "2 current age identities")


@pytest.mark.parametrize("flatten", ["\n", "", " "], ids=["as-saved", "newlines-dropped", "newlines-as-spaces"])
def test_the_signing_key_parses_however_its_newlines_arrived(flatten):
    with _conn("k_sign", conn_type="crosswalk_signing_key", extra={"private_key": PEM.replace("\n", flatten)}):
        ok, message = SigningKeyHook("k_sign").test_connection()
    assert ok and message.startswith("Ed25519 signing key SHA256:")


def test_a_wrong_type_or_a_bad_key_is_named_and_the_secret_is_never_shown():
    with _conn("k_p", conn_type="sftp", password="ab" * 32):
        ok, message = PseudonymisationKeyHook("k_p").test_connection()
    assert not ok and "conn_type: 'sftp': use 'crosswalk_pseudonymisation_key'" in message
    with _conn("k_p", conn_type="crosswalk_pseudonymisation_key", password="zz-not-hex-zz"):
        ok, message = PseudonymisationKeyHook("k_p").test_connection()
    assert not ok and "not hex" in message and "zz-not-hex-zz" not in message
    with _conn("k_age", conn_type="crosswalk_age", password="AGE-SECRET-KEY-1SECRETBITS"):
        ok, message = AgeIdentitiesHook("k_age").test_connection()
    assert not ok and "not an age identity" in message and "SECRETBITS" not in message
    with (
        _conn(
            "k_age", conn_type="crosswalk_age", password=age.Identity.generate().secret(), extra={"valid_until": "x"}
        ),
        pytest.raises(ConfigError, match="dates are YYYY-MM-DD"),
    ):
        AgeIdentitiesHook("k_age").identities(date.today())
    with _conn("k_http", conn_type="crosswalk_http"):
        assert HttpEndpointHook("k_http").test_connection() == (
            False, "connection k_http: host: empty: put the endpoint's URL here"
        )  # fmt: skip


def test_generic_connections_from_a_secrets_backend_still_work():
    ident = age.Identity.generate()
    with _conn("k_age", conn_type="generic", extra={"identities": [{"key": ident.secret()}]}):
        assert AgeIdentitiesHook("k_age").identities(date.today())[0].recipient == ident.recipient
    with _conn("k_http", conn_type="http", host="hooks.example.org", password="t"):
        assert HttpEndpointHook("k_http").endpoint() == ("https://hooks.example.org:443", "t")
