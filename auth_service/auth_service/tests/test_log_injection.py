"""No input can forge a log line: control characters in logged values are escaped (LOG_FORMAT=text)."""

import io
import logging

import pytest

from auth_service.log_records import escape_controls

pytestmark = pytest.mark.django_db

FORGED = "2026-01-01 00:00:00,000 INFO auth_service.request [x] POST /api/auth/login/ 200"


@pytest.fixture
def log_lines():
    """What the service's own handler writes, as lines."""
    [handler] = logging.getLogger().handlers[:1]
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield lambda: stream.getvalue().splitlines()
    handler.setStream(previous)


def test_a_newline_in_the_path_does_not_start_a_log_line(client, log_lines):
    client.get("/api/auth/x%0A" + FORGED.replace(" ", "%20") + "%0D%0A")
    lines = log_lines()
    assert not any(line.startswith("2026-01-01") for line in lines), lines
    [request_line] = [line for line in lines if "auth_service.request" in line and "/api/auth/x" in line]
    assert "/api/auth/x\\n2026-01-01" in request_line and request_line.endswith(" 404")


def test_a_username_with_control_characters_is_escaped_in_the_lockout_warning(make_user, login, log_lines):
    for _ in range(5):
        login("mallory\n" + FORGED + "\x1b[2K", "not-the-password-1")
    lines = log_lines()
    assert not any(line.startswith("2026-01-01") for line in lines), lines
    [warning] = [line for line in lines if "login lockout" in line]
    assert "\\n2026-01-01" in warning and "\\x1b[2k" in warning  # usernames compare lower-cased


def test_an_exception_message_cannot_forge_a_line_either(log_lines):
    try:
        raise ValueError("bad input\n" + FORGED)
    except ValueError:
        logging.getLogger("auth_service.test").exception("failed on %s", "value\r\n" + FORGED)
    lines = log_lines()
    assert not any(line.startswith("2026-01-01") for line in lines), lines
    assert lines[0].endswith("failed on value\\r\\n" + FORGED)
    assert all(line.startswith("    ") for line in lines[1:])


def test_escaping_keeps_ordinary_text_and_marks_invisible_characters():
    assert escape_controls("Zoë Łukasz 日本 ok") == "Zoë Łukasz 日本 ok"
    assert escape_controls("a\tb\u202ec\u200bd\u2028e\x00") == "a\\tb\\u202ec\\u200bd\\u2028e\\x00"
