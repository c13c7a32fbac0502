"""What every log record carries: the request id, and control characters escaped.

Control characters in logged values are escaped, so that no input can forge or split a log line.

A request path such as ``/x%0A2026-01-01 INFO forged`` decodes to a newline; written as-is by the text
format it would start a line of its own. The filter renders each record's message with its arguments and
escapes C0/C1 controls, format characters (bidi overrides, zero-width) and the Unicode line separators,
as ``\\n``, ``\\x1b``, ``\\u202e``. JSON lines are escaped by the JSON encoder too; tracebacks keep their
line breaks but every line after the first is indented, so none of them can pass for a record.
"""

import contextvars
import logging
import re
import unicodedata

# Set by RequestLogMiddleware for the duration of a request.
request_id_var = contextvars.ContextVar("request_id", default="-")

_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")
_ESCAPED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")  # controls, format characters, line/paragraph separators


def _escape_match(match: re.Match) -> str:
    char = match.group()
    if unicodedata.category(char) in _ESCAPED_CATEGORIES:
        return char.encode("unicode_escape").decode("ascii")
    return char  # ordinary non-ASCII text (names, accents) stays readable


def escape_controls(text: str) -> str:
    return _NOT_PRINTABLE_ASCII.sub(_escape_match, text)


class RequestIdFilter(logging.Filter):
    """Adds the current request id to every record, so log lines of one request can be joined."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class EscapeControlsFilter(logging.Filter):
    """On the handler: every record's message, arguments merged in, with controls escaped."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped != message or record.args:
            record.msg, record.args = escaped, None
        return True


class TextFormatter(logging.Formatter):
    """The text format, with traceback lines indented under their record."""

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return "\n".join("    " + escape_controls(line) for line in super().formatException(ei).splitlines())

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return "\n".join("    " + escape_controls(line) for line in stack_info.splitlines())
