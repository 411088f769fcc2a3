"""Where messages go: Segment's HTTP API, or the capture sink when no key is set."""

from __future__ import annotations

from ctsync.config import Settings
from ctsync.sinks._base import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    Sink,
    SinkResult,
    chunk_batches,
    validate_message,
)
from ctsync.sinks._capture import CaptureSink
from ctsync.sinks._registry import SinkFactory, SinkSpec, build_sink
from ctsync.sinks._segment import SegmentSink

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_MESSAGE_BYTES",
    "CaptureSink",
    "SegmentSink",
    "Sink",
    "SinkFactory",
    "SinkResult",
    "SinkSpec",
    "build_sink",
    "chunk_batches",
    "make_sink",
    "validate_message",
]


def make_sink(settings: Settings) -> Sink:
    """Segment (or a compatible endpoint) with a write key; otherwise capture mode."""
    if settings.segment_write_key is None or settings.capture_mode:
        return CaptureSink()
    return SegmentSink(
        write_key=settings.segment_write_key.get_secret_value(),
        endpoint=settings.segment_endpoint,
        timeout_s=settings.sink_timeout_s,
    )
