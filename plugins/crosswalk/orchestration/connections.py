"""Every Airflow connection Crosswalk reads, in one place: the staging and audit database, our keys (age
identities, the signing key, the OpenPGP key, agreements' pseudonymisation keys) and webhooks; the
partners' SFTP logins are parsed by the pinned hook (:mod:`crosswalk.transfer.hooks`). A connection that
does not resolve is a configuration error, named with where it is used; no secret is ever printed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, Engine

from crosswalk.config.loader import ProjectConfig
from crosswalk.errors import ConfigError
from crosswalk.staging.db import make_engine


def url_from_connection(conn: Any) -> str | URL:
    """SQLAlchemy URL for an Airflow connection of type ``sqlite`` or ``postgres``."""
    if conn.conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    if conn.conn_type in ("postgres", "postgresql"):
        return URL.create(
            "postgresql+psycopg",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
        )
    raise ConfigError(f"connection {conn.conn_id}", "conn_type", f"{conn.conn_type!r}: use 'postgres' or 'sqlite'")


_ENGINES: dict[str, Engine] = {}


def dispose_engines() -> None:
    """Close every pooled connection (before a database is dropped, or at the end of a test)."""
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def engine_for(conn_id: str) -> Engine:
    """The engine for an Airflow connection; one pool per database URL in this process."""
    url = url_from_connection(connection(conn_id))
    key = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    if key not in _ENGINES:
        _ENGINES[key] = make_engine(key)
    return _ENGINES[key]


def connection(conn_id: str) -> Any:
    """An Airflow connection; a missing one is a configuration error (fatal), not a retryable one."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ConfigError(
            f"connection {conn_id}",
            "conn_id",
            "not defined: add it in the Airflow UI, the secrets backend or AIRFLOW_CONN_*",
        ) from exc


def age_identities(cfg: ProjectConfig) -> list:
    """Our age identities that are current today, from the secrets backend."""
    from datetime import date

    from crosswalk.keys import current_identities

    conn_id = cfg.settings.keys.age_identities_conn_id
    conn = connection(conn_id)
    return current_identities(conn.extra_dejson, conn.password, date.today(), conn_id)


def signing_key(cfg: ProjectConfig):
    from crosswalk.keys import signing_key as load

    conn_id = cfg.settings.keys.signing_key_conn_id
    conn = connection(conn_id)
    return load(conn.extra_dejson, conn.password, conn_id)


def pseudonymisation_key(conn_id: str) -> bytes:
    """An agreement's pseudonymisation key, from the secrets backend (the egress gate's key lookup)."""
    from crosswalk.keys import pseudonymisation_key as parse

    return parse(connection(conn_id).password, conn_id)


def connection_problems(cfg: ProjectConfig) -> list[ConfigError]:
    """Every connection the configuration names, resolved through Airflow's secrets backends.

    What ``crosswalk check`` runs in a deployment: a key or login that does not resolve is found
    before a run needs it. Pseudonymisation keys are also parsed (hex, at least 32 bytes). Only
    presence and shape are checked; no secret is printed.
    """
    from crosswalk.keys import pseudonymisation_key as parse_key

    uses: dict[str, list[str]] = {}
    keys = cfg.settings.keys
    named = [
        (cfg.settings.database_conn_id, "database_conn_id"),
        (keys.age_identities_conn_id, "keys.age_identities_conn_id"),
        (keys.signing_key_conn_id, "keys.signing_key_conn_id"),
        (keys.openpgp_key_conn_id, "keys.openpgp_key_conn_id"),
        *((p.sftp.conn_id, f"partner {p.code}") for p in cfg.partners.values()),
    ]
    for conn_id, use in named:
        if conn_id:
            uses.setdefault(conn_id, []).append(use)
    pseudonym_keys = {
        a.pseudonymisation_key_conn_id: a.id
        for h in cfg.agreements.values()
        for a in h.versions
        if a.pseudonymisation_key_conn_id
    }
    for conn_id, agreement_id in pseudonym_keys.items():
        uses.setdefault(conn_id, []).append(f"agreement {agreement_id} (pseudonymisation key)")
    problems = []
    for conn_id, used_by in sorted(uses.items()):
        try:
            conn = connection(conn_id)
            if conn_id in pseudonym_keys:
                parse_key(conn.password, conn_id)
        except ConfigError as exc:
            problems.append(ConfigError(exc.file, exc.field, f"{exc.reason} (used by {'; '.join(used_by)})"))
    return problems


def openpgp_secret(cfg: ProjectConfig) -> str | None:
    """Our armored OpenPGP secret key, if this deployment has one (only OpenPGP partners need it)."""
    conn_id = cfg.settings.keys.openpgp_key_conn_id
    if conn_id is None:
        return None
    conn = connection(conn_id)
    key = conn.extra_dejson.get("secret_key") or conn.password
    if not key or "BEGIN PGP PRIVATE KEY BLOCK" not in key:
        raise ConfigError(f"connection {conn_id}", "extra.secret_key", "not an ASCII-armored OpenPGP secret key")
    return key


def http_endpoint(conn_id: str) -> tuple[str, str | None]:
    """A URL (``host``, a full URL or a host name) and bearer token (``password``) from a connection."""
    conn = connection(conn_id)
    host = conn.host or ""
    url = host if "://" in host else f"{conn.schema or 'https'}://{host}:{conn.port or 443}"
    return url, conn.password or None
