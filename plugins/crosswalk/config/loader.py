"""Load and cross-check the whole configuration: ``config/`` and ``include/schemas/``.

Every problem becomes one :class:`ConfigError` naming the file, the field and the reason; all
problems are collected and raised together, so ``crosswalk check`` shows the full list at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from crosswalk.config.models import (
    AnyFeed,
    Feed,
    InboundFeed,
    OpenDataFeed,
    OutboundFeed,
    Partner,
    PortalFeed,
    Settings,
)
from crosswalk.config.models.agreements import PUBLIC, TRANSFORM_TYPES, Agreement, AgreementHistory
from crosswalk.config.models.feeds import IDENTIFIERS_BACK
from crosswalk.config.models.population import LIST_ID_COLUMNS, MATCHED
from crosswalk.errors import ConfigError, ConfigErrors
from crosswalk.paths import default_config_dir, default_schemas_dir
from crosswalk.schemas.tableschema import TableSchema, load_table_schema

M = TypeVar("M", bound=BaseModel)
_FEED = TypeAdapter(Feed)

_PYDANTIC_REASONS = {
    "extra_forbidden": "unknown key (check the spelling; unknown keys are not ignored)",
    "missing": "required but missing",
    "date_from_datetime_parsing": "not a date: write it as YYYY-MM-DD, e.g. 2026-04-01",
    "date_parsing": "not a date: write it as YYYY-MM-DD, e.g. 2026-04-01",
    "date_type": "not a date: write it as YYYY-MM-DD, e.g. 2026-04-01",
    "int_parsing": "must be a whole number, e.g. 3",
    "int_type": "must be a whole number, e.g. 3",
    "float_parsing": "must be a number, e.g. 0.9",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list (one '- item' per line)",
    "dict_type": "must be a mapping (one 'key: value' per line)",
    "model_type": "must be a mapping (one 'key: value' per line)",
}


def _reason(err: dict) -> str:
    """Pydantic's error in our words: what is expected, with an example where one helps."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in _PYDANTIC_REASONS:
        return _PYDANTIC_REASONS[kind]
    if kind == "value_error":  # our own validators' messages, without pydantic's "Value error, " prefix
        return str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx.get('pattern', '')} (lower-case letters, digits and hyphens for an id)"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": "at least", "greater_than": "more than", "less_than_equal": "at most",
                 "less_than": "less than"}[kind]  # fmt: skip
        return f"must be {bound} {next(iter(ctx.values()), '')}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} item(s)"
    return err["msg"]


@dataclass
class ProjectConfig:
    config_dir: Path
    schemas_dir: Path
    settings: Settings
    partners: dict[str, Partner] = field(default_factory=dict)
    feeds: dict[str, AnyFeed] = field(default_factory=dict)
    agreements: dict[str, AgreementHistory] = field(default_factory=dict)
    schemas: dict[str, TableSchema] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # worth an IG officer's attention; not errors
    version: str = ""  # of the config and schemas as loaded: recorded on every run
    # With ``isolate_feeds``: the feed files left out, with their problems (the rest of the config is sound).
    broken_feeds: list[ConfigError] = field(default_factory=list)

    def inbound_feeds(self) -> list[InboundFeed]:
        return [f for f in self.feeds.values() if isinstance(f, InboundFeed)]

    def outbound_feeds(self) -> list[OutboundFeed]:
        return [f for f in self.feeds.values() if isinstance(f, OutboundFeed)]

    def dataset_of(self, feed: OutboundFeed | PortalFeed) -> str:
        """The agreement dataset (and table schema) a delivery or publication is made of."""
        source = self.inbound(feed.source_feed)
        return feed.dataset(source) if isinstance(feed, OutboundFeed) else source.schema_id

    def inbound(self, feed_id: str) -> InboundFeed:
        feed = self.feeds[feed_id]
        if not isinstance(feed, InboundFeed):
            raise KeyError(f"{feed_id} is not an inbound feed")
        return feed

    def outbound(self, feed_id: str) -> OutboundFeed:
        feed = self.feeds[feed_id]
        if not isinstance(feed, OutboundFeed):
            raise KeyError(f"{feed_id} is not an outbound feed")
        return feed

    def portal(self, feed_id: str) -> PortalFeed:
        feed = self.feeds[feed_id]
        if not isinstance(feed, PortalFeed):
            raise KeyError(f"{feed_id} is not a portal publication")
        return feed

    def open_data(self, feed_id: str) -> OpenDataFeed:
        feed = self.feeds[feed_id]
        if not isinstance(feed, OpenDataFeed):
            raise KeyError(f"{feed_id} is not an open-data publication")
        return feed


def config_version(config_dir: Path, schemas_dir: Path) -> str:
    """A short sha256 over every config and schema file (names and bytes): changes with any edit."""
    h = hashlib.sha256()
    for root in (config_dir, schemas_dir):
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".json")):
            h.update(f"{root.name}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:12]


def _errors_from_pydantic(file: str, exc: ValidationError, drop_first: bool = False) -> list[ConfigError]:
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = list(err["loc"])[1:] if drop_first and len(err["loc"]) > 1 else list(err["loc"])
        where = ".".join(str(p) for p in loc) or "file"
        out.append(ConfigError(file, where, _reason(err)))
    return out


# libyaml's safe loader where PyYAML was built with it (the wheels are): the same documents, the same
# safe types, about ten times faster than the pure-Python one. Every task loads the configuration.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), "file", f"cannot read YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(str(path), "file", "must be a YAML mapping")
    return data


def _load_dir(directory: Path, errors: list[ConfigError], validate, invalid: dict[str, str]) -> list[tuple[Path, Any]]:
    """Validate every YAML file in ``directory``; note the ids of invalid ones in ``invalid``."""
    loaded = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            raw = _read_yaml(path)
            loaded.append((path, validate(path, raw)))
        except ConfigError as exc:
            errors.append(exc)
        except ValidationError as exc:
            errors.extend(_errors_from_pydantic(str(path), exc, drop_first=directory.name == "feeds"))
            key = raw.get("code", raw.get("id"))
            if isinstance(key, str):
                invalid[key] = path.name  # so references to it say "invalid", not "missing"
    return loaded


def _unique(kind: str, items: list[tuple[Path, Any]], key: str, errors: list[ConfigError]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    where: dict[str, Path] = {}
    for path, item in items:
        k = getattr(item, key)
        if k in out:
            errors.append(ConfigError(str(path), key, f"{kind} {k!r} is already defined in {where[k].name}"))
            continue
        out[k], where[k] = item, path
    return out


def load_config(
    config_dir: Path | None = None,
    schemas_dir: Path | None = None,
    *,
    check_descriptors: bool = True,
    isolate_feeds: bool = False,
) -> ProjectConfig:
    """Load, validate and cross-check everything; raise :class:`ConfigErrors` listing every problem.

    ``check_descriptors=False`` skips checking table schemas against the Table Schema spec (it
    imports Frictionless, slow for DAG parsing); ``crosswalk check`` and CI always check them.
    ``isolate_feeds=True`` (for DAG parsing): when every problem lies in feed files, those feeds are left
    out (in ``broken_feeds``) and the rest is returned, so one broken feed cannot hide the others; a
    problem anywhere else (settings, partners, agreements, schemas) still raises.
    """
    config_dir = Path(config_dir or default_config_dir())
    schemas_dir = Path(schemas_dir or default_schemas_dir())
    errors: list[ConfigError] = []

    settings_path = config_dir / "crosswalk.yaml"
    settings = None
    try:
        settings = Settings.model_validate(_read_yaml(settings_path))
    except ConfigError as exc:
        errors.append(exc)
    except ValidationError as exc:
        errors.extend(_errors_from_pydantic(str(settings_path), exc))

    invalid: dict[str, str] = {}
    partners_loaded = _load_dir(config_dir / "partners", errors, lambda p, d: Partner.model_validate(d), invalid)
    partners = _unique("partner", partners_loaded, "code", errors)
    if settings is not None:
        errors.extend(_openpgp_needs_our_key(partners_loaded, settings))
    feeds_loaded = _load_dir(config_dir / "feeds", errors, lambda p, d: _FEED.validate_python(d), invalid)
    feeds = _unique("feed", feeds_loaded, "id", errors)
    agreements_loaded = _load_dir(config_dir / "agreements", errors, lambda p, d: Agreement.model_validate(d), invalid)
    agreements = _histories(agreements_loaded, errors)

    schemas: dict[str, TableSchema] = {}
    for path in sorted(schemas_dir.glob("*.json")):
        try:
            schemas[path.stem] = load_table_schema(path, check_descriptor=check_descriptors)
        except ConfigError as exc:
            errors.append(exc)

    operator = settings.operator.code if settings else None
    for path, item in [*feeds_loaded, *agreements_loaded]:
        errors.extend(_cross_check(path, item, partners, feeds, agreements, schemas, invalid, operator))
    errors.extend(_shared_keys(agreements_loaded, settings.keys.disclosure_key_conn_id if settings else None))

    broken: list[ConfigError] = []
    if errors and isolate_feeds:
        feed_files = {str(path) for path in (config_dir / "feeds").glob("*.yaml")}
        if all(e.file in feed_files for e in errors):
            broken, errors = errors, []
            feeds = _without_broken_feeds(feeds, feeds_loaded, broken)
    if errors:
        raise ConfigErrors(errors)
    assert settings is not None  # an invalid settings file is in errors
    cfg = ProjectConfig(config_dir, schemas_dir, settings, partners, feeds, agreements, schemas)
    cfg.broken_feeds = broken
    cfg.version = config_version(config_dir, schemas_dir)
    cfg.warnings.extend(_agreement_warnings(cfg, date.today()))
    return cfg


def _feed_refs(feed: AnyFeed) -> list[tuple[str, str]]:
    """The other feeds ``feed`` is built on, as (field, feed id)."""
    refs = [
        (name, getattr(feed, name)) for name in ("source_feed", "source") if isinstance(getattr(feed, name, None), str)
    ]
    matching = getattr(feed, "matching", None)
    return refs + ([("matching.against", matching.against)] if matching is not None else [])


def _without_broken_feeds(
    feeds: dict[str, AnyFeed], loaded: list[tuple[Path, Any]], broken: list[ConfigError]
) -> dict[str, AnyFeed]:
    """``feeds`` less those of the files in ``broken`` and, in turn, those built on a feed left out (each
    added to ``broken`` with why)."""
    bad_files = {e.file for e in broken}
    bad = {id(item) for path, item in loaded if str(path) in bad_files}  # by file: two files may claim one id
    kept = {k: f for k, f in feeds.items() if id(f) not in bad}
    path_of = {id(item): path for path, item in loaded}
    changed = True
    while changed:
        changed = False
        for key, feed in list(kept.items()):
            for name, ref in _feed_refs(feed):
                if ref in feeds and ref not in kept:
                    broken.append(ConfigError(str(path_of[id(feed)]), name, f"feed {ref!r} is left out: fix it first"))
                    del kept[key]
                    changed = True
                    break
    return kept


def _histories(loaded: list[tuple[Path, Agreement]], errors: list[ConfigError]) -> dict[str, AgreementHistory]:
    """Group agreement versions by id; a version number twice, or two versions in force at once, is an error."""
    by_id: dict[str, list[tuple[Path, Agreement]]] = {}
    for path, a in loaded:
        by_id.setdefault(a.id, []).append((path, a))
    out = {}
    for agreement_id, items in by_id.items():
        seen: dict[int, Path] = {}
        versions = []
        for path, a in items:
            if a.version in seen:
                errors.append(
                    ConfigError(str(path), "version", f"{a.ref} is already defined in {seen[a.version].name}")
                )
                continue
            seen[a.version] = path
            versions.append(a)
        history = AgreementHistory(versions)
        for a, b in history.overlaps():
            errors.append(
                ConfigError(
                    str(seen[b.version]),
                    "valid_from",
                    f"{b.ref} (from {b.valid_from}) overlaps {a.ref} (until {a.valid_until}): "
                    "versions of one agreement must not be in force at the same time",
                )
            )
        out[agreement_id] = history
    return out


def _openpgp_needs_our_key(loaded: list[tuple[Path, Partner]], settings: Settings) -> list[ConfigError]:
    """A partner who encrypts to us with OpenPGP needs our OpenPGP key to be configured: without it their first
    drop could not be opened."""
    if settings.keys.openpgp_key_conn_id:
        return []
    return [
        ConfigError(
            str(path), "encryption.method",
            f"{partner.code} encrypts with OpenPGP, but crosswalk.yaml names no OpenPGP key of ours: set"
            " keys.openpgp_key_conn_id (docs: our keys), or give this partner method 'age'",
        )
        for path, partner in loaded
        if partner.encryption.method == "openpgp"
    ]  # fmt: skip


def _shared_keys(loaded: list[tuple[Path, Agreement]], disclosure_key: str | None) -> list[ConfigError]:
    """Each agreement needs its own pseudonymisation key, or its pseudonyms become linkable with another's; and
    none may be the disclosure log's key (the log's hashes would then match a recipient's pseudonyms)."""
    owner: dict[str, str] = {}
    errs = []
    for path, a in loaded:
        key = a.pseudonymisation_key_conn_id
        if key is None:
            continue
        if key == disclosure_key:
            errs.append(
                ConfigError(
                    str(path),
                    "pseudonymisation_key_conn_id",
                    f"{key!r} is the disclosure log's key (keys.disclosure_key_conn_id): give the agreement its own",
                )
            )
        if owner.setdefault(key, a.id) != a.id:
            errs.append(
                ConfigError(
                    str(path),
                    "pseudonymisation_key_conn_id",
                    f"{key!r} is also the key of agreement {owner[key]!r}: give each agreement its own key "
                    "so pseudonyms cannot be linked across agreements",
                )
            )
    return errs


def _agreement_warnings(cfg: ProjectConfig, today: date) -> list[str]:
    out = []
    for history in cfg.agreements.values():
        current = history.in_force(today)
        if current is None:
            latest = history.latest
            when = f"expired on {latest.valid_until}" if latest.valid_until < today else f"starts {latest.valid_from}"
            out.append(f"agreement {history.id}: no version in force today ({latest.ref} {when})")
            continue
        status = current.status_on(today)
        if status == "draft":
            out.append(f"agreement {current.ref}: not signed off by {', '.join(current.unsigned_on(today))}")
        elif status == "review overdue":
            out.append(f"agreement {current.ref}: review was due on {current.review_date}")
        if current.kind != "open_data":
            for r in current.recipients:
                if r.population.is_bulk:
                    out.append(f"agreement {current.ref}: {r.partner} receives every record of its datasets"
                               " (population: all): a bulk disclosure")  # fmt: skip
    return out


def _matched_with(source: InboundFeed, partner: str, feeds: dict[str, AnyFeed]) -> bool:
    """Whether the crosswalk can link ``source``'s records to records ``partner`` sent: ``source`` is matched
    against a feed of ``partner``'s, or a feed of ``partner``'s is matched against ``source``."""
    if source.matching is not None:
        against = feeds.get(source.matching.against)
        if isinstance(against, InboundFeed) and against.partner == partner:
            return True
        if source.partner == partner:  # the partner's own records (an identifiers_back return)
            return True
    return any(
        isinstance(f, InboundFeed) and f.partner == partner and f.matching is not None
        and f.matching.against == source.id
        for f in feeds.values()
    )  # fmt: skip


def _cross_check(path, item, partners, feeds, agreements, schemas, invalid, operator) -> list[ConfigError]:
    f = str(path)
    errs: list[ConfigError] = []

    def need(cond: bool, where: str, reason: str) -> None:
        if not cond:
            errs.append(ConfigError(f, where, reason))

    def ref(where: str, kind: str, key: str, table: dict, home: str) -> bool:
        """A reference to another config item: it must exist, and be valid."""
        if key in table:
            return True
        if key in invalid:
            need(False, where, f"{kind} {key!r} is invalid (see the problems in {invalid[key]})")
        else:
            need(False, where, f"no {kind} {key!r} in {home}")
        return False

    if isinstance(item, InboundFeed):
        ref("partner", "partner", item.partner, partners, "config/partners")
        ref("schema", "table schema", item.schema_id, schemas, "include/schemas")
        if item.matching is not None:
            against = feeds.get(item.matching.against)
            if ref("matching.against", "feed", item.matching.against, feeds, "config/feeds"):
                need(isinstance(against, InboundFeed), "matching.against", f"{item.matching.against!r} is not inbound")
            if item.matching.reviewer is not None:
                ref("matching.reviewer", "partner", item.matching.reviewer, partners, "config/partners")
            if item.schema_id in schemas:
                need(
                    item.matching.id_column in schemas[item.schema_id].field_names,
                    "matching.id_column",
                    f"{item.matching.id_column!r} is not a column of {item.schema_id}",
                )
    elif isinstance(item, OutboundFeed | PortalFeed):  # both: staged data of an inbound feed to a partner
        ref("partner", "partner", item.partner, partners, "config/partners")
        source = feeds.get(item.source_feed)
        if ref("source_feed", "feed", item.source_feed, feeds, "config/feeds"):
            need(isinstance(source, InboundFeed), "source_feed", f"{item.source_feed!r} is not an inbound feed")
        if ref("agreement", "agreement", item.agreement, agreements, "config/agreements"):
            history = agreements[item.agreement]
            for agreement in history.versions:
                need(
                    agreement.level_for(item.partner) is not None,
                    "agreement",
                    f"agreement {agreement.ref} does not name {item.partner!r} as a recipient",
                )
                if isinstance(source, InboundFeed):
                    dataset = item.dataset(source) if isinstance(item, OutboundFeed) else source.schema_id
                    need(
                        dataset in agreement.datasets,
                        "agreement",
                        f"agreement {agreement.ref} has no catalogue for dataset {dataset!r}",
                    )
                    population = agreement.population_for(item.partner)
                    if population is not None and population.include == MATCHED:
                        need(
                            _matched_with(source, item.partner, feeds),
                            "agreement",
                            f"agreement {agreement.ref} admits only people matched to {item.partner}'s records, but"
                            f" no feed of {item.partner} is matched with {source.id} (a matching section)",
                        )
        if isinstance(item, OutboundFeed) and item.kind == IDENTIFIERS_BACK and isinstance(source, InboundFeed):
            need(source.matching is not None, "source_feed", f"{source.id!r} is not matched: nothing to return")
            need(
                item.partner == source.partner,
                "partner",
                f"identifiers go back to the partner that sent {source.id} ({source.partner}), not {item.partner}",
            )
    elif isinstance(item, OpenDataFeed):
        from crosswalk.paths import SQL_DIR

        if ref("source", "feed", item.source, feeds, "config/feeds"):
            need(isinstance(feeds[item.source], PortalFeed), "source", f"{item.source!r} is not a portal publication")
        if ref("dataset", "table schema", item.dataset, schemas, "include/schemas"):
            from crosswalk.publish.codelists import open_data_field_problems

            for problem in open_data_field_problems(schemas[item.dataset]):
                need(False, "dataset", problem)
        need((SQL_DIR / "opendata" / item.sql).is_file(), "sql", f"no {item.sql} in include/sql/opendata")
        if item.targets.sftp is not None:
            ref("targets.sftp.partner", "partner", item.targets.sftp.partner, partners, "config/partners")
        if ref("agreement", "agreement", item.agreement, agreements, "config/agreements"):
            for agreement in agreements[item.agreement].versions:
                need(
                    agreement.kind == "open_data",
                    "agreement",
                    f"agreement {agreement.ref} is not an open_data agreement",
                )
                need(
                    item.dataset in agreement.datasets,
                    "agreement",
                    f"agreement {agreement.ref} has no catalogue for dataset {item.dataset!r}",
                )
    elif isinstance(item, Agreement):
        if item.provider != operator:
            ref("provider", "partner", item.provider, partners, "config/partners (or the operator's code)")
        for i, r in enumerate(item.recipients):
            if r.partner != PUBLIC:
                ref(f"recipients.{i}.partner", "partner", r.partner, partners, "config/partners")
            for kind, feed_id in r.population.list_feeds:
                where = f"recipients.{i}.population.exclude.{kind}.feed"
                if not ref(where, "feed", feed_id, feeds, "config/feeds"):
                    continue
                listed = feeds[feed_id]
                if not isinstance(listed, InboundFeed) or listed.person_list != kind:
                    need(False, where, f"{feed_id!r} is not an inbound feed with person_list: {kind}")
                    continue
                if listed.schema_id not in schemas:
                    need(False, where, f"the {kind} list {feed_id!r} has no table schema {listed.schema_id!r}"
                         " in include/schemas: a list is a governed input with its own schema")  # fmt: skip
                    continue
                need(
                    any(c in schemas[listed.schema_id].field_names for c in LIST_ID_COLUMNS),
                    where,
                    f"the {kind} list {feed_id!r} (schema {listed.schema_id}) names no person: its schema needs one of"
                    f" {', '.join(LIST_ID_COLUMNS)}",
                )
                need(
                    listed.partner in item.parties,
                    where,
                    f"the {kind} list {feed_id!r} comes from {listed.partner}, who is not a party to {item.ref}",
                )
        for ds, catalogue in item.datasets.items():
            if not ref(f"datasets.{ds}", "table schema", ds, schemas, "include/schemas"):
                continue
            schema = schemas[ds]
            names = schema.field_names
            missing = [n for n in names if n not in catalogue.fields]
            need(not missing, f"datasets.{ds}.fields", f"the catalogue misses schema column(s) {missing}")
            extra = [n for n in catalogue.fields if n not in names]
            need(not extra, f"datasets.{ds}.fields", f"catalogue entries for column(s) not in the schema: {extra}")
            for name, entry in catalogue.fields.items():
                if name not in names:
                    continue
                ftype = schema.field(name).type
                for level, transform in sorted(entry.transform.items()):
                    allowed = TRANSFORM_TYPES.get(transform)
                    need(
                        allowed is None or ftype in allowed,
                        f"datasets.{ds}.fields.{name}.transform.{level}",
                        f"{transform} needs a column of type {' or '.join(sorted(allowed or ()))}; {name} is {ftype}",
                    )
    return errs
