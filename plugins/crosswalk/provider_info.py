"""Crosswalk as an Airflow provider: the connection types our keys and endpoints use, so that the UI's
Add Connection form offers them with their fields named and described.

Airflow finds this through the ``apache_airflow_provider`` entry point (pyproject.toml) and reads the
form declaratively (``conn-fields``, ``ui-field-behaviour``: Airflow 3.2's way, no hook import and no
WTForms). Form fields are stored in the connection's extra under their own names, which is what
:mod:`crosswalk.keys` reads; a secrets backend may hand over the same JSON. Plain data, no imports: the
API server, scheduler and workers all load it.
"""

from __future__ import annotations

from typing import Any

AGE_IDENTITIES = "crosswalk_age"
SIGNING_KEY = "crosswalk_signing_key"
OPENPGP_KEY = "crosswalk_openpgp_key"
PSEUDONYMISATION_KEY = "crosswalk_pseudonymisation_key"
HTTP_ENDPOINT = "crosswalk_http"

_HOOKS = "crosswalk.orchestration.connection_types"
_ONLY_PASSWORD = ["host", "schema", "login", "port"]
_NOTHING_STANDARD = [*_ONLY_PASSWORD, "password"]


def _text(label: str, description: str, *, secret: bool = False, multiline: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"]}
    if multiline:
        schema["format"] = "multiline"
    elif secret:
        schema["format"] = "password"
    return {"label": label, "description": description, "schema": schema}


def _date(label: str, description: str) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], "format": "date"}}


CONNECTION_TYPES: list[dict[str, Any]] = [
    {
        "connection-type": AGE_IDENTITIES,
        "hook-class-name": f"{_HOOKS}.AgeIdentitiesHook",
        "hook-name": "Crosswalk: age identities (decrypt partners' drops)",
        "ui-field-behaviour": {
            "hidden-fields": _ONLY_PASSWORD,
            "relabeling": {"password": "Current age identity"},
            "placeholders": {"password": "AGE-SECRET-KEY-1… (one line, from age-keygen or crosswalk keygen)"},
        },
        "conn-fields": {
            "valid_until": _date(
                "Current identity valid until",
                "Last day drops are decrypted with it; blank for no end date.",
            ),
            "previous_secret_key": _text(
                "Previous age identity (during a rotation)",
                "Kept while partners still encrypt to the old recipient; decryption tries both.",
                secret=True,
            ),
            "previous_valid_until": _date(
                "Previous identity valid until",
                "Last day of the rotation; after it the previous identity is no longer tried.",
            ),
        },
    },
    {
        "connection-type": SIGNING_KEY,
        "hook-class-name": f"{_HOOKS}.SigningKeyHook",
        "hook-name": "Crosswalk: signing key (sign deliveries)",
        "ui-field-behaviour": {"hidden-fields": _NOTHING_STANDARD},
        "conn-fields": {
            "private_key": _text(
                "OpenSSH Ed25519 private key",
                "The whole key file, from -----BEGIN OPENSSH PRIVATE KEY----- to its END line (ssh-keygen -t "
                "ed25519). Partners pin its .pub. Unencrypted: this connection is the secret store.",
                multiline=True,
            ),
        },
    },
    {
        "connection-type": OPENPGP_KEY,
        "hook-class-name": f"{_HOOKS}.OpenPgpKeyHook",
        "hook-name": "Crosswalk: OpenPGP key (partners on method openpgp)",
        "ui-field-behaviour": {"hidden-fields": _NOTHING_STANDARD},
        "conn-fields": {
            "secret_key": _text(
                "ASCII-armored OpenPGP secret key",
                "gpg --armor --export-secret-keys, from -----BEGIN PGP PRIVATE KEY BLOCK----- to its END line; "
                "without a passphrase.",
                multiline=True,
            ),
        },
    },
    {
        "connection-type": PSEUDONYMISATION_KEY,
        "hook-class-name": f"{_HOOKS}.PseudonymisationKeyHook",
        "hook-name": "Crosswalk: pseudonymisation key (one per agreement)",
        "ui-field-behaviour": {
            "hidden-fields": [*_ONLY_PASSWORD, "extra"],
            "relabeling": {"password": "Key (hex, at least 32 bytes)"},
            "placeholders": {"password": "from `crosswalk keygen --pseudonymisation`"},
        },
    },
    {
        "connection-type": HTTP_ENDPOINT,
        "hook-class-name": f"{_HOOKS}.HttpEndpointHook",
        "hook-name": "Crosswalk: HTTPS endpoint (notifications, CKAN)",
        "ui-field-behaviour": {
            "hidden-fields": ["login", "extra"],
            "relabeling": {"host": "URL or host name", "password": "Bearer token", "schema": "Scheme"},
            "placeholders": {
                "host": "https://hooks.example.org/crosswalk (a full URL), or a host name",
                "password": "sent as Authorization: Bearer …; blank for none",
                "schema": "https (used only when the host is not a full URL)",
                "port": "443 (used only when the host is not a full URL)",
            },
        },
    },
]

# Which connection types each of our uses accepts: ours, and ``generic`` (what a secrets backend or an
# ``AIRFLOW_CONN_*`` JSON without a form gives); ``http`` where the HTTP provider is installed.
ACCEPTED = {
    AGE_IDENTITIES: {AGE_IDENTITIES, "generic"},
    SIGNING_KEY: {SIGNING_KEY, "generic"},
    OPENPGP_KEY: {OPENPGP_KEY, "generic"},
    PSEUDONYMISATION_KEY: {PSEUDONYMISATION_KEY, "generic"},
    HTTP_ENDPOINT: {HTTP_ENDPOINT, "http", "https", "generic"},
}


HOOK_NAMES = {c["connection-type"]: c["hook-name"] for c in CONNECTION_TYPES}


def get_provider_info() -> dict[str, Any]:
    """What the ``apache_airflow_provider`` entry point returns (Airflow's provider_info schema)."""
    return {
        "package-name": "crosswalk",
        "name": "Crosswalk",
        "description": "Governed data exchange between health and social-care organisations.",
        "connection-types": CONNECTION_TYPES,
    }
