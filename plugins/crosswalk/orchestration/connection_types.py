"""One hook per connection type Crosswalk declares (:mod:`crosswalk.provider_info`): each reads its
connection, refuses a connection of another type, and parses what it holds. The UI's Test button runs
the same parse (``test_connection``), and so does ``crosswalk check``; the message names the field and
the problem, never the secret.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from airflow.sdk import BaseHook

from crosswalk import keys
from crosswalk import provider_info as types
from crosswalk.errors import ConfigError


def connection(conn_id: str) -> Any:
    """An Airflow connection; a missing one is a configuration error (fatal), not a retryable one."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ConfigError(
            f"connection {conn_id}",
            "conn_id",
            "not defined: add it in the Airflow UI, the secrets backend or AIRFLOW_CONN_*",
        ) from exc


class CrosswalkConnectionHook(BaseHook):
    """What every key and endpoint connection shares: the lookup, the type check and the Test button."""

    conn_name_attr = "conn_id"
    conn_type: ClassVar[str]
    what: ClassVar[str]  # what a successful test reports, e.g. "1 current age identity"

    def __init__(self, conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id

    def _connection(self) -> Any:
        conn = connection(self.conn_id)
        accepted = types.ACCEPTED[self.conn_type]
        if conn.conn_type not in accepted:
            raise ConfigError(
                f"connection {self.conn_id}",
                "conn_type",
                f"{conn.conn_type!r}: use {self.conn_type!r} (or 'generic' from a secrets backend)",
            )
        return conn

    def check(self) -> str:
        """Parse the connection; return what it holds, in words with no secret in them."""
        raise NotImplementedError

    def test_connection(self) -> tuple[bool, str]:
        try:
            return True, self.check()  # the UI tests a copy under a random id: naming it would only confuse
        except ConfigError as exc:
            return False, str(exc)


class AgeIdentitiesHook(CrosswalkConnectionHook):
    conn_type = types.AGE_IDENTITIES
    hook_name = types.HOOK_NAMES[types.AGE_IDENTITIES]
    default_conn_name = "crosswalk_age_identities"

    def identities(self, today: date) -> list:
        conn = self._connection()
        return keys.current_identities(conn.extra_dejson, conn.password, today, self.conn_id)

    def check(self) -> str:
        n = len(self.identities(date.today()))
        if n == 0:
            raise ConfigError(f"connection {self.conn_id}", "password", "no age identity is current today")
        return f"{n} current age identit{'y' if n == 1 else 'ies'}"


class SigningKeyHook(CrosswalkConnectionHook):
    conn_type = types.SIGNING_KEY
    hook_name = types.HOOK_NAMES[types.SIGNING_KEY]
    default_conn_name = "crosswalk_signing_key"

    def key(self):
        conn = self._connection()
        return keys.signing_key(conn.extra_dejson, conn.password, self.conn_id)

    def check(self) -> str:
        from crosswalk.crypto import sshsig

        return f"Ed25519 signing key {sshsig.fingerprint(sshsig.public_key_line(self.key().public_key()))}"


class OpenPgpKeyHook(CrosswalkConnectionHook):
    conn_type = types.OPENPGP_KEY
    hook_name = types.HOOK_NAMES[types.OPENPGP_KEY]
    default_conn_name = "crosswalk_openpgp_key"

    def secret_key(self) -> str:
        conn = self._connection()
        key = conn.extra_dejson.get("secret_key") or conn.password
        if not key or "BEGIN PGP PRIVATE KEY BLOCK" not in key:
            where = f"connection {self.conn_id}"
            raise ConfigError(where, "extra.secret_key", "not an ASCII-armored OpenPGP secret key")
        return key

    def check(self) -> str:
        self.secret_key()
        return "ASCII-armored OpenPGP secret key"


class PseudonymisationKeyHook(CrosswalkConnectionHook):
    conn_type = types.PSEUDONYMISATION_KEY
    hook_name = types.HOOK_NAMES[types.PSEUDONYMISATION_KEY]
    default_conn_name = "crosswalk_pseudonym"

    def key(self) -> bytes:
        return keys.pseudonymisation_key(self._connection().password, self.conn_id)

    def check(self) -> str:
        return f"{len(self.key())}-byte pseudonymisation key"


class HttpEndpointHook(CrosswalkConnectionHook):
    conn_type = types.HTTP_ENDPOINT
    hook_name = types.HOOK_NAMES[types.HTTP_ENDPOINT]
    default_conn_name = "crosswalk_notify"

    def endpoint(self) -> tuple[str, str | None]:
        """A URL (``host``, a full URL or a host name) and bearer token (``password``)."""
        conn = self._connection()
        host = conn.host or ""
        if not host:
            raise ConfigError(f"connection {self.conn_id}", "host", "empty: put the endpoint's URL here")
        url = host if "://" in host else f"{conn.schema or 'https'}://{host}:{conn.port or 443}"
        return url, conn.password or None

    def check(self) -> str:
        url, token = self.endpoint()
        scheme = url.split("://", 1)[0]
        return f"{scheme} endpoint, {'with' if token else 'no'} bearer token"


HOOKS: dict[str, type[CrosswalkConnectionHook]] = {
    h.conn_type: h
    for h in (AgeIdentitiesHook, SigningKeyHook, OpenPgpKeyHook, PseudonymisationKeyHook, HttpEndpointHook)
}
