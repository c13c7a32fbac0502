"""Logging: readable lines locally, one JSON object per line in containers (LOG_FORMAT=json).

Every value is written with its control characters escaped (auth_service/log_records.py).
"""

from .environment import LOG_FORMAT, LOG_LEVEL

_FORMATTERS = {
    "text": {
        "()": "auth_service.log_records.TextFormatter",
        "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
    },
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "auth_service.log_records.RequestIdFilter"},
        "escape_controls": {"()": "auth_service.log_records.EscapeControlsFilter"},
    },
    "formatters": {"default": _FORMATTERS.get(LOG_FORMAT, _FORMATTERS["text"])},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "default",
            "filters": ["request_id", "escape_controls"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Requests are logged once by RequestLogMiddleware; Django's own 4xx lines would repeat them.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR"},
    },
}
