"""JSON structured logging to stdout with secret masking."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# Set by the UI layer per run so every line says whose action it was.
log_user_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("log_user_id", default=None)
log_session_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "log_session_id", default=None
)

_SECRET_PATTERNS = [
    # Provider keys (OpenAI sk-/sk-proj-, Anthropic sk-ant-) and Fernet-like tokens.
    (re.compile(r"\b(sk-(?:ant-|proj-)?)[A-Za-z0-9_\-]{8,}"), r"\1***"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._\-~+/]+=*"), r"\1***"),
    # key=value / "key": "value" pairs whose name says secret.
    (
        re.compile(
            r"(?i)([\"']?(?:password|passwd|pwd|secret|token|api[_-]?key|cookie|authorization)"
            r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
        ),
        r"\1***",
    ),
    # Credentials inside a URL: scheme://user:password@host (a provider's base URL may carry them).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/@:]*(?::[^\s/@]*)?@"), r"\1***@"),
    # JWTs (the auth cookie).
    (re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"), "***"),
]
_SECRET_FIELD = re.compile(r"(?i)password|secret|token|api_?key|cookie|authorization")


def mask_secrets(text: str) -> str:
    """Replace anything that looks like a credential with ***."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, event, user and session ids, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "event": mask_secrets(record.getMessage()),
            "user_id": getattr(record, "user_id", None) or log_user_id.get(),
            "session_id": getattr(record, "session_id", None) or log_session_id.get(),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = "***" if _SECRET_FIELD.search(key) else _mask_value(value)
        if record.exc_info:
            entry["exception"] = mask_secrets(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _mask_value(value: Any) -> Any:
    return mask_secrets(value) if isinstance(value, str) else value


def configure_logging(level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Route the root logger to stdout (a CLI whose output is data: stderr) as JSON lines; idempotent."""
    root = logging.getLogger()
    if not any(getattr(h, "_parley", False) for h in root.handlers):
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler._parley = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # HTTP clients log every request's URL at INFO (the SDKs use httpx2): WARNING and above only.
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "urllib3", "openai", "anthropic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with structured fields (secret-named fields are masked)."""
    logger.log(level, event, extra={"fields": fields})
