"""Structured logs (structlog) that never carry personal data or secrets.

A processor replaces anything that looks like an email with a short hash, and
drops keys that could hold secrets or payloads.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
import sys
from collections.abc import MutableMapping
from types import ModuleType
from typing import Any


def _import_structlog() -> ModuleType:
    """Import structlog without letting ``structlog.dev`` pull in rich and pygments.

    structlog imports its dev module eagerly, and that imports rich's traceback
    renderer (~350 ms here) when rich is installed (it is: the CLI uses it). The
    service never renders rich tracebacks, and a serverless cold start has a
    budget, so the import sees rich as absent unless something loaded it already.
    """
    if "rich" in sys.modules or "structlog" in sys.modules:
        return importlib.import_module("structlog")
    sys.modules["rich"] = None  # type: ignore[assignment]  # makes `import rich` fail fast
    try:
        return importlib.import_module("structlog")
    finally:
        del sys.modules["rich"]


structlog = _import_structlog()

__all__ = ["configure_logging", "get_logger", "hash_email", "scrub"]


def get_logger(name: str) -> Any:
    """A structlog logger; modules call this instead of importing structlog."""
    return structlog.get_logger(name)


_EMAIL = re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}")
# A secret in a query string or a key=value text (?token=..., writeKey=...).
_SECRET_PARAM = re.compile(
    r"(?i)\b(token|secret|password|write_?key|api_?key|client_secret|sig|signature)=[^&\s\"']+"
)
_SECRET_KEYS = {
    "authorization",
    "write_key",
    "writekey",
    "token",
    "secret",
    "password",
    "client_secret",
    "body",
    "payload",
    "traits",
}


def hash_email(value: str) -> str:
    """A stable, non-reversible stand-in for an email in logs."""
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:12]
    return f"email:{digest}"


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        value = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", value)
        return _EMAIL.sub(lambda m: hash_email(m.group(0)), value)
    return value


class _ScrubFilter(logging.Filter):
    """The same scrubbing for stdlib records (uvicorn's access and error logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _mask(record.getMessage())
        record.args = None
        return True


def _stderr_logger(*args: Any) -> Any:
    """A PrintLogger on the *current* stderr (a test runner may swap it)."""
    del args
    return structlog.PrintLogger(sys.stderr)


def scrub(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: hash emails, drop secret- or payload-bearing keys."""
    del logger, method
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "***"
        else:
            event_dict[key] = _mask(event_dict[key])
    return event_dict


def configure_logging(level: str = "info", *, json_output: bool | None = None) -> None:
    """Key=value lines on a terminal, JSON lines elsewhere; emails hashed in both.

    Every entry point calls it (the CLI, the app factory that the Vercel entry and any
    ASGI server use), so no process logs with structlog's unscrubbed defaults.
    """
    as_json = not sys.stderr.isatty() if json_output is None else json_output
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            scrub,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        stdlib = logging.getLogger(name)
        if not any(isinstance(f, _ScrubFilter) for f in stdlib.filters):
            stdlib.addFilter(_ScrubFilter())
