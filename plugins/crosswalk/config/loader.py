"""Load and cross-check the whole configuration: ``config/`` and ``include/schemas/``.

Every problem becomes one :class:`ConfigError` naming the file, the field and the reason; all
problems are collected and raised together, so ``crosswalk check`` shows the full list at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from crosswalk.config.models import Agreement, Feed, InboundFeed, OutboundFeed, Partner, Settings
from crosswalk.errors import ConfigError, ConfigErrors
from crosswalk.paths import default_config_dir, default_schemas_dir
from crosswalk.schemas.tableschema import TableSchema, load_table_schema

M = TypeVar("M", bound=BaseModel)
_FEED = TypeAdapter(Feed)

_PYDANTIC_REASONS = {
    "extra_forbidden": "unknown key (check the spelling; unknown keys are not ignored)",
    "missing": "required but missing",
}


@dataclass
class ProjectConfig:
    config_dir: Path
    schemas_dir: Path
    settings: Settings
    partners: dict[str, Partner] = field(default_factory=dict)
    feeds: dict[str, InboundFeed | OutboundFeed] = field(default_factory=dict)
    agreements: dict[str, Agreement] = field(default_factory=dict)
    schemas: dict[str, TableSchema] = field(default_factory=dict)

    def inbound_feeds(self) -> list[InboundFeed]:
        return [f for f in self.feeds.values() if isinstance(f, InboundFeed)]

    def outbound_feeds(self) -> list[OutboundFeed]:
        return [f for f in self.feeds.values() if isinstance(f, OutboundFeed)]

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


def _errors_from_pydantic(file: str, exc: ValidationError, drop_first: bool = False) -> list[ConfigError]:
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = list(err["loc"])[1:] if drop_first and len(err["loc"]) > 1 else list(err["loc"])
        where = ".".join(str(p) for p in loc) or "file"
        reason = _PYDANTIC_REASONS.get(err["type"], err["msg"])
        out.append(ConfigError(file, where, reason))
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), "file", f"cannot read YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(str(path), "file", "must be a YAML mapping")
    return data


def _load_dir(directory: Path, errors: list[ConfigError], validate) -> list[tuple[Path, Any]]:
    loaded = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            loaded.append((path, validate(path, _read_yaml(path))))
        except ConfigError as exc:
            errors.append(exc)
        except ValidationError as exc:
            errors.extend(_errors_from_pydantic(str(path), exc, drop_first=directory.name == "feeds"))
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
    config_dir: Path | None = None, schemas_dir: Path | None = None, *, check_descriptors: bool = True
) -> ProjectConfig:
    """Load, validate and cross-check everything; raise :class:`ConfigErrors` listing every problem.

    ``check_descriptors=False`` skips checking table schemas against the Table Schema spec (it
    imports Frictionless, slow for DAG parsing); ``crosswalk check`` and CI always check them.
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

    partners = _unique(
        "partner",
        _load_dir(config_dir / "partners", errors, lambda p, d: Partner.model_validate(d)),
        "code",
        errors,
    )
    feeds_loaded = _load_dir(config_dir / "feeds", errors, lambda p, d: _FEED.validate_python(d))
    feeds = _unique("feed", feeds_loaded, "id", errors)
    agreements_loaded = _load_dir(config_dir / "agreements", errors, lambda p, d: Agreement.model_validate(d))
    agreements = _unique("agreement", agreements_loaded, "id", errors)

    schemas: dict[str, TableSchema] = {}
    for path in sorted(schemas_dir.glob("*.json")):
        try:
            schemas[path.stem] = load_table_schema(path, check_descriptor=check_descriptors)
        except ConfigError as exc:
            errors.append(exc)

    for path, item in [*feeds_loaded, *agreements_loaded]:
        errors.extend(_cross_check(path, item, partners, feeds, agreements, schemas))

    if errors:
        raise ConfigErrors(errors)
    assert settings is not None  # an invalid settings file is in errors
    return ProjectConfig(config_dir, schemas_dir, settings, partners, feeds, agreements, schemas)


def _cross_check(path, item, partners, feeds, agreements, schemas) -> list[ConfigError]:
    f = str(path)
    errs: list[ConfigError] = []

    def need(cond: bool, where: str, reason: str) -> None:
        if not cond:
            errs.append(ConfigError(f, where, reason))

    if isinstance(item, InboundFeed):
        need(item.partner in partners, "partner", f"no partner {item.partner!r} in config/partners")
        need(item.schema_id in schemas, "schema", f"no table schema {item.schema_id!r} in include/schemas")
    elif isinstance(item, OutboundFeed):
        need(item.partner in partners, "partner", f"no partner {item.partner!r} in config/partners")
        source = feeds.get(item.source_feed)
        need(isinstance(source, InboundFeed), "source_feed", f"no inbound feed {item.source_feed!r}")
        agreement = agreements.get(item.agreement)
        need(agreement is not None, "agreement", f"no agreement {item.agreement!r} in config/agreements")
        if agreement is not None:
            need(
                agreement.level_for(item.partner) is not None,
                "agreement",
                f"agreement {agreement.id!r} does not name {item.partner!r} as a recipient",
            )
            if isinstance(source, InboundFeed):
                need(
                    source.schema_id in agreement.datasets,
                    "agreement",
                    f"agreement {agreement.id!r} has no rules for dataset {source.schema_id!r}",
                )
    elif isinstance(item, Agreement):
        need(item.provider in partners, "provider", f"no partner {item.provider!r} in config/partners")
        for i, r in enumerate(item.recipients):
            need(
                r.partner in partners,
                f"recipients.{i}.partner",
                f"no partner {r.partner!r} in config/partners",
            )
        for ds, rules in item.datasets.items():
            schema = schemas.get(ds)
            if schema is None:
                errs.append(ConfigError(f, f"datasets.{ds}", f"no table schema {ds!r} in include/schemas"))
                continue
            missing = [n for n in schema.field_names if n not in rules.fields]
            need(not missing, f"datasets.{ds}.fields", f"no rule for schema column(s) {missing}")
            extra = [n for n in rules.fields if n not in schema.field_names]
            need(not extra, f"datasets.{ds}.fields", f"rule(s) for column(s) not in the schema: {extra}")
    return errs
