"""Sinks by type: the built-in ones, and those packages add (entry points ``ctsync.sinks``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr

from ctsync.errors import ConfigError
from ctsync.plugins import SINKS_GROUP, load_plugin
from ctsync.sinks._base import Sink
from ctsync.sinks._capture import CaptureSink
from ctsync.sinks._segment import SegmentSink

__all__ = ["SinkFactory", "SinkSpec", "build_sink"]


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """What a sink factory gets: a destination of the mapping file, its key read from the env."""

    name: str
    type: str
    endpoint: str | None
    write_key: SecretStr | None
    timeout_s: float


SinkFactory = Callable[[SinkSpec], Sink]


def _segment(spec: SinkSpec) -> Sink:
    key = spec.write_key.get_secret_value() if spec.write_key else ""
    if not key:
        return CaptureSink()
    return SegmentSink(
        write_key=key,
        endpoint=spec.endpoint or "https://api.segment.io",
        timeout_s=spec.timeout_s,
    )


_BUILTIN: dict[str, SinkFactory] = {"segment": _segment, "capture": lambda _: CaptureSink()}


def build_sink(spec: SinkSpec) -> Sink:
    """The sink of ``spec.type``: built in, or from an installed ``ctsync.sinks`` plugin."""
    factory = _BUILTIN.get(spec.type)
    if factory is None:
        try:
            factory = load_plugin(SINKS_GROUP, spec.type)
        except (KeyError, ImportError, AttributeError) as exc:
            msg = f"destination {spec.name!r}: cannot load sink type {spec.type!r}: {exc}"
            raise ConfigError(msg) from exc
    return factory(spec)
