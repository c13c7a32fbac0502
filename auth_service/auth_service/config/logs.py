"""Logging: readable lines locally, one JSON object per line in containers (LOG_FORMAT=json)."""

from .environment import LOG_FORMAT, LOG_LEVEL

_FORMATTERS = {
    "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "format": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "auth_service.request_log.RequestIdFilter"}},
    "formatters": {"default": _FORMATTERS.get(LOG_FORMAT, _FORMATTERS["text"])},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Requests are logged once by RequestLogMiddleware; Django's own 4xx lines would repeat them.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR"},
    },
}
