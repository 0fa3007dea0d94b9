"""Frictionless Table Schema descriptors for the extracts we exchange.

Each extract type is described by ``include/schemas/<schema_id>.json``, a standard Table Schema
(https://specs.frictionlessdata.io/table-schema/) so partners can validate their own files with
any Frictionless tool. We support the subset listed in ``SUPPORTED_*`` and refuse the rest at
config-check time, rather than silently not enforcing a constraint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crosswalk.errors import ConfigError

SUPPORTED_TYPES = {"string", "integer", "number", "date", "boolean"}
SUPPORTED_CONSTRAINTS = {
    "required",
    "unique",
    "pattern",
    "enum",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
}
# Table Schema's date "format": "default" is ISO 8601; otherwise a strptime pattern.
DEFAULT_DATE_FORMAT = "%Y-%m-%d"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    description: str
    constraints: dict[str, Any]
    date_format: str = DEFAULT_DATE_FORMAT

    @property
    def required(self) -> bool:
        return bool(self.constraints.get("required"))


@dataclass(frozen=True)
class TableSchema:
    id: str
    title: str
    fields: tuple[FieldSpec, ...]
    primary_key: tuple[str, ...]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)


def _field_from_descriptor(file: str, i: int, d: dict[str, Any]) -> FieldSpec:
    where = f"fields[{i}]"
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(file, where, "every field needs a name")
    ftype = d.get("type", "string")
    if ftype not in SUPPORTED_TYPES:
        raise ConfigError(file, f"{where}.type", f"{name}: type {ftype!r} is not supported ({sorted(SUPPORTED_TYPES)})")
    constraints = d.get("constraints", {})
    unknown = set(constraints) - SUPPORTED_CONSTRAINTS
    if unknown:
        raise ConfigError(file, f"{where}.constraints", f"{name}: unsupported constraint(s) {sorted(unknown)}")
    fmt = d.get("format", "default")
    date_format = DEFAULT_DATE_FORMAT
    if ftype == "date" and fmt not in ("default", "any"):
        date_format = fmt
    if not d.get("description"):
        raise ConfigError(
            file,
            f"{where}.description",
            f"{name}: every field needs a description (it feeds the data dictionary)",
        )
    return FieldSpec(name, ftype, d["description"], dict(constraints), date_format)


def check_descriptor(descriptor: dict[str, Any], file: str) -> None:
    """Check a descriptor against the Table Schema spec with the reference library."""
    # Lazy: frictionless is slow to import and DAG parsing does not need it.
    from frictionless import FrictionlessException, Schema

    try:
        Schema.from_descriptor(descriptor)
    except FrictionlessException as exc:
        raise ConfigError(file, "descriptor", f"not a valid Table Schema: {exc.error.message}") from exc


def parse_table_schema(schema_id: str, descriptor: dict[str, Any], file: str, check: bool = True) -> TableSchema:
    """Build a :class:`TableSchema` from a descriptor, checking it as a Table Schema first."""
    if check:
        check_descriptor(descriptor, file)
    fields_d = descriptor.get("fields") or []
    fields = tuple(_field_from_descriptor(file, i, d) for i, d in enumerate(fields_d))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ConfigError(file, "fields", "field names must be unique")
    pk = descriptor.get("primaryKey", [])
    pk = (pk,) if isinstance(pk, str) else tuple(pk)
    missing = [k for k in pk if k not in names]
    if missing:
        raise ConfigError(file, "primaryKey", f"names unknown field(s) {missing}")
    return TableSchema(schema_id, descriptor.get("title", schema_id), fields, pk)


def load_table_schema(path: Path, check_descriptor: bool = True) -> TableSchema:
    try:
        descriptor = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(str(path), "file", f"cannot read JSON: {exc}") from exc
    if not isinstance(descriptor, dict):
        raise ConfigError(str(path), "file", "must be a JSON object")
    return parse_table_schema(path.stem, descriptor, str(path), check_descriptor)
