"""Log lines: text or JSON (``MLGRAPH_LOG_FORMAT``), each with its request id and trace id, and
no secrets.

``logging_config(settings)`` is one ``dictConfig`` for the CLI and for uvicorn (which applies it
in every worker process): one handler on the root logger, uvicorn's loggers propagating to it.
The handler's ``RequestContext`` filter puts ``request_id`` (set per request by
``app/telemetry.py``), ``trace_id`` and ``span_id`` (the current span's) on every record;
outside a request they are empty strings.

Secrets are kept out twice: the code logs none (credentials are logged by their API-key prefix
or not at all), and both formatters pass the finished line through ``redact``, which blanks
bearer credentials, JWTs, API-key secrets, webhook signing secrets and the signatures and
credentials of signed URLs. uvicorn's access lines lose their query string altogether: a GET
request's query string is the caller's to keep (GraphQL variables, signed URLs).
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from mlgraph.settings import Settings
from mlgraph.telemetry.tracing import ids

#: The request id of the request being served (``""`` outside one).
REQUEST_ID: ContextVar[str] = ContextVar("mlgraph_request_id", default="")

_SECRETS = [
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1[redacted]"),
    (re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), "[redacted JWT]"),
    (re.compile(r"\b(mlg_[a-z0-9]{10})_[\w-]+"), r"\1_[redacted]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]+"), "whsec_[redacted]"),
    (
        re.compile(
            r"(?i)([?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|signature"
            r"|token|api_key)=)[^&\s\"']+"
        ),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    """``text`` with every credential-shaped substring blanked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RequestContext(logging.Filter):
    """Adds ``request_id``, ``trace_id`` and ``span_id``; drops access lines' query strings."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.trace_id, record.span_id = ids()
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            record.args = tuple(
                _without_query(a) if i == 2 else a for i, a in enumerate(record.args)
            )
        return True


def _without_query(path: object) -> object:
    if isinstance(path, str) and "?" in path:
        return path.split("?", 1)[0] + "?…"
    return path


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, trace_id, span_id
    (and the exception's traceback, redacted, when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", ""),
            "trace_id": getattr(record, "trace_id", ""),
            "span_id": getattr(record, "span_id", ""),
        }
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message [request R trace T]``, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", "")
        if request_id:
            text += f" [request {request_id} trace {getattr(record, 'trace_id', '') or '-'}]"
        return redact(text)


def logging_config(settings: Settings) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of the CLI and of uvicorn's workers."""
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    propagate = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": RequestContext}},
        "formatters": {"line": {"()": formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["request"],
            }
        },
        "root": {"level": settings.log_level.upper(), "handlers": ["stderr"]},
        "loggers": {name: propagate for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }
