"""A safety net under the rule that logs hold counts, hashes and field names only.

:func:`install` wraps the logging record factory, so every stdlib log record in the process (ours,
Airflow's task logs, libraries') has identifier-shaped values redacted from its message before any
handler sees it: CHI and NHS numbers (10 digits, also as 3-3-4), full UK postcodes, and dates of
birth (day-first or ISO dates before 2015, so run dates and agreement dates stay readable). Hashes
and ids are untouched: a digit run inside a hex string is not a separate number.

The real guarantee is the code's (see the canary test); this only catches what slips.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_PATTERNS = [
    # CHI / NHS number; not a count or size written as key:value or key=value (file_size:1073741824)
    re.compile(r"(?<![\w.:=-])\d{3}[ -]?\d{3}[ -]?\d{4}(?![\w-])"),
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"),  # UK postcode (full)
    re.compile(r"\b(?:0?[1-9]|[12]\d|3[01])[/.](?:0?[1-9]|1[0-2])[/.](?:19|20)\d{2}\b"),  # 31/12/1950
    re.compile(r"(?<![\w:-])(?:19\d{2}|200\d|201[0-4])-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?![\w:])"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


_installed = False


def install() -> None:
    """Redact every log record's message from now on, in this process (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not isinstance(record.msg, str):  # structured messages (structlog's event dicts) pass as they are
            return record
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed format string: leave it for the handler to report
            return record
        safe = redact(message)
        if safe != message or record.args:
            record.msg, record.args = safe, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
