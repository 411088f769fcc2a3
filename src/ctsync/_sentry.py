"""Optional error reports to Sentry (``SENTRY_DSN``), scrubbed like the logs.

Only errors go: log lines at error level (with their exception) and uncaught
exceptions. Every event passes ``scrub_event`` before it leaves the process, so
emails are hashed and anything under a secret-looking key is masked, as in the
logs. ``sentry_sdk`` is imported only when a DSN is set: it is an optional
extra (``ctsync[sentry]``) and costs the serverless cold start otherwise.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from ctsync.config import Settings
from ctsync.logs import get_logger, scrub, structlog

log = get_logger("ctsync.sentry")
_SECRET = re.compile(
    r"pass(word)?|secret|token|authorization|cookie|csrf|write_?key|api_?key|dsn", re.I
)
_ERROR_METHODS = {"error", "exception", "critical", "fatal"}


def _deep(value: Any) -> Any:
    """Hash emails in every string and mask secret-looking keys, at any depth."""
    if isinstance(value, dict):
        flat = dict(scrub(None, "sentry", dict(value)))
        return {k: "***" if _SECRET.search(str(k)) else _deep(v) for k, v in flat.items()}
    if isinstance(value, list | tuple):
        return [_deep(v) for v in value]
    if isinstance(value, str):
        return scrub(None, "sentry", {"v": value})["v"]
    return value


def scrub_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's ``before_send``: the whole event, scrubbed."""
    del hint
    scrubbed: dict[str, Any] = _deep(event)
    return scrubbed


def _forward_errors(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: an error line becomes a Sentry event (scrubbed on send)."""
    del logger
    if method not in _ERROR_METHODS:
        return event_dict
    import sentry_sdk  # noqa: PLC0415 - loaded already by init_sentry

    context = {k: v for k, v in event_dict.items() if k != "exc_info"}
    with sentry_sdk.new_scope() as scope:
        scope.set_context("log", context)
        exc = event_dict.get("exc_info")
        if isinstance(exc, BaseException):
            sentry_sdk.capture_exception(exc)
        elif exc:
            sentry_sdk.capture_exception()
        else:
            sentry_sdk.capture_message(str(event_dict.get("event")), level="error")
    return event_dict


def init_sentry(settings: Settings) -> bool:
    """Start reporting errors to Sentry when SENTRY_DSN is set; True when it did."""
    if settings.sentry_dsn is None or not settings.sentry_dsn.get_secret_value():
        return False
    try:
        import sentry_sdk  # noqa: PLC0415
    except ImportError:
        log.warning("sentry_unavailable", action="start", hint="pip install 'ctsync[sentry]'")
        return False
    if not sentry_sdk.get_client().is_active():  # the CLI and the app factory both ask
        sentry_sdk.init(
            dsn=settings.sentry_dsn.get_secret_value(),
            before_send=scrub_event,  # type: ignore[arg-type]
            send_default_pii=False,
            include_local_variables=False,
            traces_sample_rate=0.0,
        )
    # Again after every logging set-up: configure_logging replaces the processors.
    processors = list(structlog.get_config()["processors"])
    if _forward_errors not in processors:
        # Before the exception is rendered to text, so Sentry gets the exception itself.
        fmt = structlog.processors.format_exc_info
        at = processors.index(fmt) if fmt in processors else len(processors) - 1
        processors.insert(at, _forward_errors)
        structlog.configure(processors=processors)
    return True
