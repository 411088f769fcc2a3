"""Small pieces every planner shares: the per-trait stale guard and plan shortcuts."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ctsync.mapping._types import IdentityState, Plan

__all__ = [
    "UnmappableError",
    "after_deletion",
    "describe_validation",
    "is_fresh",
    "note_version",
    "set_trait",
    "stale",
]


class UnmappableError(ValueError):
    """The payload cannot be mapped; the event is recorded as failed with this reason."""


def is_fresh(state: IdentityState, trait: str, version: int | None) -> bool:
    """Whether an event at ``version`` may set ``trait`` (equal versions may; unknown may)."""
    if version is None:
        return True
    known = state.trait_versions.get(trait)
    return known is None or version >= known


def set_trait(state: IdentityState, trait: str, value: Any, version: int | None) -> None:
    """Keep ``value`` as the last known ``trait`` (None forgets it), set at ``version``."""
    if value is None:
        state.traits.pop(trait, None)
    else:
        state.traits[trait] = value
    if version is not None:
        state.trait_versions[trait] = version


def note_version(state: IdentityState, version: int | None) -> None:
    """Remember ``version`` as applied when it is the highest seen."""
    if version is not None and (state.version is None or version > state.version):
        state.version = version


def stale(state: IdentityState, version: int | None, what: str) -> Plan:
    """The plan for an event whose every trait was set by a newer version."""
    reason = f"{what} at version {version} is older than what ctsync already sent"
    return Plan("stale", reason=reason, user_id=state.user_id)


def after_deletion(state: IdentityState, what: str) -> Plan:
    """The plan for an event that arrives after its customer's deletion (kept, not sent)."""
    reason = f"{what} arrived after the customer was deleted (version {state.version})"
    return Plan("stale", reason=reason, user_id=state.user_id)


def describe_validation(exc: ValidationError) -> str:
    """A short reason naming the bad fields, without echoing their (personal) values."""
    problems = [
        f"{exc.title}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)[:3]
    ]
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (+{more} more)" if more > 0 else "")
