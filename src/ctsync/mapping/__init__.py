"""The mapping stage: commercetools customer events -> Segment Identify/Track/Alias calls.

Pure functions: no I/O and no clock. ``plan_event`` takes one event and the
stored identity of its customer and returns a ``Plan``: the calls to queue,
the identity to store, and a status for the event.
"""

from __future__ import annotations

from ctsync.mapping._customer import plan_customer_read, plan_event
from ctsync.mapping._traits import customer_traits, normalize_email
from ctsync.mapping._types import (
    IdentityState,
    MappingOptions,
    Plan,
    PlanStatus,
    SegmentMessage,
)

__all__ = [
    "IdentityState",
    "MappingOptions",
    "Plan",
    "PlanStatus",
    "SegmentMessage",
    "customer_traits",
    "normalize_email",
    "plan_customer_read",
    "plan_event",
]
