"""ctsync: keep Segment customer profiles in step with a commercetools shop."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
