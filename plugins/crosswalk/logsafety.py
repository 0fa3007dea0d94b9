"""A safety net under the rule that logs hold counts, hashes and field names only.

:func:`install` wraps the logging record factory, so every stdlib log record in the process (ours,
Airflow's task logs, libraries') has identifier-shaped values redacted from its message before any
handler sees it: CHI and NHS numbers (10 digits, also as 3-3-4), full UK postcodes, and dates of
birth (day-first or ISO dates before 2015, so run dates and agreement dates stay readable). Hashes
and ids are untouched: a digit run inside a hex string is not a separate number.

The real guarantee is the code's (see the canary test); this only catches what slips.
"""

from __future__ import annotations

import hashlib
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


MAX_REASON = 300
MAX_NAME = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """Control characters (line breaks included) as visible escapes, so a value can never start a new line
    of a log, a reason file or a report, nor hide what follows it."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """A reason as every record of ours shows it: one line, control characters escaped, at most ``limit``
    characters (cut with an ellipsis)."""
    text = escape_controls(str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


_ORDINARY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def shown_name(name: str, limit: int = MAX_NAME) -> str:
    """A partner's file name as we show it anywhere (reasons, feedback, logs, the audit trail, quarantine).

    An ordinary name (letters, digits, ``.``, ``_``, ``-``; at most ``limit`` characters: what our partner
    guide asks for) is shown as it is, so the partner knows which file is meant. Any other name is shown
    only as ``unusual-name-<sha256 prefix>``: a name is the partner's free text, and a hostile one can
    carry line breaks, terminal escapes or personal data; by a hash it can still be matched to the file.
    """
    if len(name) <= limit and _ORDINARY_NAME.fullmatch(name):
        return name
    return "unusual-name-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]


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
        if record.args:  # values put into the message (file names among them) cannot forge a new line
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            if any(isinstance(a, str) and _CONTROL.search(a) for a in args):
                escaped = tuple(escape_controls(a) if isinstance(a, str) else a for a in args)
                try:
                    message = record.msg % escaped
                except (TypeError, ValueError):
                    return record
        safe = redact(message)
        if safe != message or record.args:
            record.msg, record.args = safe, None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
