"""What every config model shares: unknown keys are errors, models are frozen; identifiers and schedules."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
"""Identifiers used in DAG ids, table names and file names: lower case, digits and dashes."""


SchemaId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]{1,62}$")]
"""A table schema's id: the stem of its file in ``include/schemas/``."""


CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly")


_CRON_FIELD = r"[\d*/,\-A-Za-z]+"


_CRON = re.compile(rf"^{_CRON_FIELD}( {_CRON_FIELD}){{4}}$")


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


MANUAL, ON_ARRIVAL = "manual", "on_arrival"


def _schedule_check(*words: str):
    """A validator for a schedule: one of ``words``, a cron preset or a five-field cron expression."""
    named = ", ".join(f"'{w}'" for w in words)

    def check(v: str) -> str:
        if v in words or v in CRON_PRESETS or _CRON.match(v):
            return v
        raise ValueError(f"{v!r} is not {named}, one of {', '.join(CRON_PRESETS)}, or a five-field cron expression")

    return check


Schedule = Annotated[
    str,
    AfterValidator(_schedule_check(MANUAL)),
    Field(description="'manual', a cron preset such as '@daily', or a cron expression."),
]


FeedSchedule = Annotated[
    str,
    AfterValidator(_schedule_check(MANUAL, ON_ARRIVAL)),
    Field(
        description="'manual' (runs only when triggered), a cron preset such as '@daily' or a cron expression, or "
        "'on_arrival' (an inbound feed: when a complete drop lands in the partner's outbox; any other feed: when "
        "its source has new data). Anything but 'manual' takes effect only once the graduation gate is passed."
    ),
]
