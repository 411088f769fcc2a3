"""Phone numbers in E.164, the form Segment destinations expect."""

from __future__ import annotations

from functools import cache
from types import ModuleType

__all__ = ["to_e164"]


@cache
def _phonenumbers() -> ModuleType:
    """phonenumbers, imported on first use: its metadata costs ~40 ms of cold start."""
    import phonenumbers  # noqa: PLC0415

    return phonenumbers


def to_e164(raw: str | None, region: str | None) -> str | None:
    """``raw`` in E.164, read with ``region`` (an ISO country) as default; None if unusable."""
    if raw is None or not raw.strip():
        return None
    default_region = region.strip().upper() if region and region.strip() else None
    phonenumbers = _phonenumbers()
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
