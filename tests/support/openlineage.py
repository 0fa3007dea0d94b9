"""OpenLineage events, checked as a lineage tool would receive them.

The spec's own JSON Schema files are not on any registry these machines reach; the OpenLineage Python client's
model (``openlineage.client.generated``) is generated from them, field for field. :func:`schema_of` turns that
model back into a JSON Schema (required fields, types, enums, the URI and UUID formats its validators check), so
every event is validated by ``jsonschema``; facets of other producers are checked against the base facet, and our
own facet against its published schema (include/openlineage/)."""

from __future__ import annotations

import contextlib
import enum
import json
import types
import typing
from collections.abc import Iterator

import attr
import jsonschema
from openlineage.client.generated import base, column_lineage_dataset, parent_run, schema_dataset

from tests.conftest import REPO

KNOWN_FACETS = {
    "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet,
    "schema": schema_dataset.SchemaDatasetFacet,
    "parent": parent_run.ParentRunFacet,
}
OURS = json.loads((REPO / "include" / "openlineage" / "CrosswalkAgreementRunFacet.json").read_text())


def schema_of(tp, defs: dict) -> dict:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return {"anyOf": [schema_of(a, defs) for a in inner] + [{"type": "null"}]}
    if origin is list:
        return {"type": "array", "items": schema_of(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(args[1], defs)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if tp in (str, int, bool, float):
        return {"type": {str: "string", int: "integer", bool: "boolean", float: "number"}[tp]}
    if isinstance(tp, type) and attr.has(tp):
        name = tp.__qualname__ + "@" + tp.__module__
        if name not in defs:
            defs[name] = {}  # placeholder: a model may refer to itself
            module = vars(__import__(tp.__module__, fromlist=["x"]))
            hints = typing.get_type_hints(tp, {**module, "ClassVar": typing.ClassVar})
            props, required = {}, []
            for f in attr.fields(tp):
                key = f.name
                props[key] = schema_of(hints[f.name], defs)
                if key in ("producer", "schemaURL", "_producer", "_schemaURL"):
                    props[key] = {"type": "string", "format": "uri", "minLength": 1}
                if key == "runId":
                    props[key] = {"type": "string", "format": "uuid"}
                if key == "eventTime":
                    props[key] = {"type": "string", "format": "date-time"}
                if f.default is attr.NOTHING:
                    required.append(key)
            defs[name] = {"type": "object", "properties": props, "required": required}
        return {"$ref": f"#/$defs/{name}"}
    return {}


def _facet_map_schema(defs: dict, base_facet: type) -> dict:
    return {"type": "object", "additionalProperties": schema_of(base_facet, defs)}


def run_event_schema() -> dict:
    defs: dict = {}
    root = schema_of(base.RunEvent, defs)
    # Facet maps are open (any producer's facets): each facet is at least a base facet with its producer and schema.
    for d in defs.values():
        for key, facet_base in (("facets", None), ("inputFacets", None), ("outputFacets", None)):
            if key in d.get("properties", {}) and facet_base is None:
                d["properties"][key] = {
                    "anyOf": [{"type": "object", "additionalProperties": {
                        "type": "object", "required": ["_producer", "_schemaURL"],
                        "properties": {"_producer": {"type": "string", "format": "uri", "minLength": 1},
                                       "_schemaURL": {"type": "string", "format": "uri", "minLength": 1}},
                    }}, {"type": "null"}],
                }  # fmt: skip
    return {"$defs": defs, **root}


def validate(event: dict) -> None:
    """The event against the model's schema; each known facet against its own; ours against its published one."""
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    jsonschema.validate(event, run_event_schema(), format_checker=checker)
    datasets = [*(event.get("inputs") or []), *(event.get("outputs") or [])]
    for facets in [event["run"].get("facets") or {}, *(d.get("facets") or {} for d in datasets)]:
        for key, facet in facets.items():
            if key in KNOWN_FACETS:
                defs: dict = {}
                jsonschema.validate(
                    facet, {"$defs": defs, **schema_of(KNOWN_FACETS[key], defs)}, format_checker=checker
                )
            elif key == "crosswalk_agreement":
                jsonschema.validate(facet, OURS, format_checker=checker)


@contextlib.contextmanager
def lineage_listening() -> Iterator[None]:
    """OpenLineage's listener on for the block, sending under the transport configured now. The provider's plugin
    registers its listener only if a transport was configured when the process first loaded plugins, and the
    listener keeps the client it first built: so register it where it is missing, and drop its client before and
    after (nothing of this block's transport outlives it)."""
    import importlib

    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener

    listener = get_openlineage_listener()
    added = []
    for module in ("airflow.listeners.listener", "airflow.sdk.listener"):
        try:
            manager = importlib.import_module(module).get_listener_manager()
        except (ImportError, AttributeError):
            continue
        if not manager.pm.is_registered(listener):
            manager.add_listener(listener)
            added.append(manager)
    listener.adapter._client = None
    try:
        yield
    finally:
        for manager in added:
            manager.pm.unregister(listener)
        listener.adapter._client = None
        if listener._executor is not None:  # the DAG-run events' process pool: its workers would outlive ours
            listener._executor.shutdown(wait=True)
            listener._executor = None
