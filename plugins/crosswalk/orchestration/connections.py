"""Every Airflow connection Crosswalk reads, in one place: the staging and audit database, our keys (age
identities, the signing key, the OpenPGP key, agreements' pseudonymisation keys) and webhooks; the
partners' SFTP logins are parsed by the pinned hook (:mod:`crosswalk.transfer.hooks`). A connection that
does not resolve is a configuration error, named with where it is used; no secret is ever printed.
Each key and endpoint kind is read by its hook (:mod:`crosswalk.orchestration.connection_types`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import URL, Engine

from crosswalk.config.loader import ProjectConfig
from crosswalk.errors import ConfigError
from crosswalk.orchestration.connection_types import (
    AgeIdentitiesHook,
    CrosswalkConnectionHook,
    HttpEndpointHook,
    OpenPgpKeyHook,
    PseudonymisationKeyHook,
    SigningKeyHook,
    connection,
)
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


def age_identities(cfg: ProjectConfig) -> list:
    """Our age identities that are current today, from the secrets backend."""
    return AgeIdentitiesHook(cfg.settings.keys.age_identities_conn_id).identities(date.today())


def signing_key(cfg: ProjectConfig):
    return SigningKeyHook(cfg.settings.keys.signing_key_conn_id).key()


def disclosure_key(cfg: ProjectConfig) -> bytes:
    """Our own key for the per-person disclosure log's keyed hashes (crosswalk.disclosures)."""
    return PseudonymisationKeyHook(cfg.settings.keys.disclosure_key_conn_id).key()


def pseudonymisation_key(conn_id: str) -> bytes:
    """An agreement's pseudonymisation key, from the secrets backend (the egress gate's key lookup)."""
    return PseudonymisationKeyHook(conn_id).key()


def connection_problems(cfg: ProjectConfig) -> list[ConfigError]:
    """Every connection the configuration names, resolved through Airflow's secrets backends.

    What ``crosswalk check`` runs in a deployment: a key or login that does not resolve, is of the wrong
    type or does not parse (an age identity, the signing key, the OpenPGP key, a pseudonymisation key) is
    found before a run needs it. No secret is printed.
    """
    uses: dict[str, list[str]] = {}
    parsers: dict[str, type[CrosswalkConnectionHook] | None] = {}
    keys = cfg.settings.keys
    named: list[tuple[str | None, str, type[CrosswalkConnectionHook] | None]] = [
        (cfg.settings.database_conn_id, "database_conn_id", None),
        (keys.age_identities_conn_id, "keys.age_identities_conn_id", AgeIdentitiesHook),
        (keys.signing_key_conn_id, "keys.signing_key_conn_id", SigningKeyHook),
        (keys.openpgp_key_conn_id, "keys.openpgp_key_conn_id", OpenPgpKeyHook),
        (keys.disclosure_key_conn_id, "keys.disclosure_key_conn_id", PseudonymisationKeyHook),
        *((p.sftp.conn_id, f"partner {p.code}", None) for p in cfg.partners.values()),
        *(
            (a.pseudonymisation_key_conn_id, f"agreement {a.id} (pseudonymisation key)", PseudonymisationKeyHook)
            for h in cfg.agreements.values()
            for a in h.versions
        ),
    ]
    for conn_id, use, hook in named:
        if conn_id:
            uses.setdefault(conn_id, []).append(use)
            parsers[conn_id] = parsers.get(conn_id) or hook
    problems = []
    for conn_id, used_by in sorted(uses.items()):
        try:
            hook = parsers[conn_id]
            if hook is None:
                connection(conn_id)
            else:
                hook(conn_id).check()
        except ConfigError as exc:
            problems.append(ConfigError(exc.file, exc.field, f"{exc.reason} (used by {'; '.join(used_by)})"))
    if not problems:
        problems += _disclosure_key_problems(cfg)
    return problems


def _disclosure_key_problems(cfg: ProjectConfig) -> list[ConfigError]:
    """The disclosure log's key is ours alone: the same key as an agreement's would let a recipient's pseudonyms
    be matched against the log."""
    ours = disclosure_key(cfg)
    shared = sorted(
        {a.id for h in cfg.agreements.values() for a in h.versions
         if a.pseudonymisation_key_conn_id and pseudonymisation_key(a.pseudonymisation_key_conn_id) == ours}
    )  # fmt: skip
    return (
        [
            ConfigError(
                f"connection {cfg.settings.keys.disclosure_key_conn_id}",
                "password",
                f"the same key as the pseudonymisation key of agreement(s) {', '.join(shared)}: give the disclosure"
                " log a key of its own (crosswalk keygen --pseudonymisation)",
            )
        ]
        if shared
        else []
    )


def openpgp_secret(cfg: ProjectConfig) -> str | None:
    """Our armored OpenPGP secret key, if this deployment has one (only OpenPGP partners need it)."""
    conn_id = cfg.settings.keys.openpgp_key_conn_id
    return OpenPgpKeyHook(conn_id).secret_key() if conn_id else None


def http_endpoint(conn_id: str) -> tuple[str, str | None]:
    """A URL (``host``, a full URL or a host name) and bearer token (``password``) from a connection."""
    return HttpEndpointHook(conn_id).endpoint()
