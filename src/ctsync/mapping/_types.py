"""The records the mapping stage takes and returns: options, state, plan, message."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = [
    "BUILTIN_TRAITS",
    "CUSTOM_PREFIX",
    "DEFAULT_DESTINATION",
    "DEFAULT_TRAITS",
    "AddressChoice",
    "Destination",
    "IdentityState",
    "MappingOptions",
    "Plan",
    "PlanStatus",
    "Route",
    "SegmentMessage",
    "TraitSpec",
    "clone_state",
]

PlanStatus = Literal["accepted", "ignored", "stale", "waiting", "failed", "fetching"]


CUSTOM_PREFIX = "$"
"""State keys of expression traits start with it, so they never meet a built-in trait."""

BUILTIN_TRAITS = (
    "email",
    "firstName",
    "lastName",
    "name",
    "birthday",
    "company",
    "phone",
    "createdAt",
    "commercetoolsCustomerId",
    "address",
)
"""The traits ctsync computes itself, in the order a snapshot sends them by default."""

AddressChoice = tuple[str, ...]
"""Ordered choices: ``defaultBilling``, ``defaultShipping``, ``first``, ``key:<key>``."""


@dataclass(frozen=True, slots=True)
class TraitSpec:
    """One trait the mapping sends: a built-in one (maybe renamed) or a JMESPath expression."""

    name: str
    builtin: str | None = None
    expression: str | None = None

    @property
    def state_key(self) -> str:
        """Where the identity map keeps this trait's last value."""
        return self.builtin if self.builtin is not None else CUSTOM_PREFIX + self.name


DEFAULT_TRAITS = tuple(TraitSpec(name, builtin=name) for name in BUILTIN_TRAITS)

DEFAULT_DESTINATION = "default"
"""The destination of SEGMENT_WRITE_KEY and SEGMENT_ENDPOINT (capture mode without a key)."""


@dataclass(frozen=True, slots=True)
class Destination:
    """A sink a route sends to: its type, where, with which key (by env var name), how fast."""

    name: str
    type: str = "segment"
    write_key_env: str | None = None
    endpoint: str | None = None
    rate_limit: float | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Events of ``project`` (and ``store``, when set) go to ``to``."""

    project: str
    to: tuple[str, ...]
    store: str | None = None


@dataclass(frozen=True, slots=True)
class MappingOptions:
    """How commercetools events become Segment calls (the mapping file, loaded and checked).

    The defaults are the built-in mapping (``mapping/default.yaml`` says the same;
    a test keeps them equal).
    """

    identity: Literal["email", "customer_id"] = "email"
    deleted_event: str = "Customer Deleted"
    version: str = "ctsync-default-1"
    traits: tuple[TraitSpec, ...] = DEFAULT_TRAITS
    address_choice: AddressChoice = ("defaultBilling", "defaultShipping", "first")
    phone_region: str | None = None
    ignored: frozenset[str] = frozenset()
    order_events: tuple[tuple[str, str], ...] = (
        ("OrderCreated", "Order Completed"),
        ("OrderImported", "Order Completed"),
    )
    state_events: tuple[tuple[str, str, str], ...] = (
        ("OrderStateChanged", "Cancelled", "Order Cancelled"),
    )
    destinations: tuple[Destination, ...] = ()
    routes: tuple[Route, ...] = ()
    transforms: tuple[str, ...] = ()
    api_reads: bool = False  # CTP_* credentials: a notification without data is read later

    def output_name(self, state_key: str) -> str | None:
        """The name a kept trait is sent under; None when the mapping drops it."""
        return _output_names(self.traits).get(state_key)


@functools.cache
def _output_names(traits: tuple[TraitSpec, ...]) -> dict[str, str]:
    return {spec.state_key: spec.name for spec in traits}


@dataclass(frozen=True, slots=True)
class SegmentMessage:
    """One Segment call, ``body`` being the complete item for /v1/batch."""

    type: Literal["identify", "track", "alias"]
    message_id: str
    user_id: str
    body: dict[str, Any]


@dataclass(slots=True)
class IdentityState:
    """What the identity map keeps per (project key, customer id)."""

    customer_id: str
    user_id: str | None = None
    email: str | None = None
    version: int | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    trait_versions: dict[str, int] = field(default_factory=dict)
    addresses: list[dict[str, Any]] = field(default_factory=list)
    default_billing_address_id: str | None = None
    default_shipping_address_id: str | None = None
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        """The state as a JSON object, for the store."""
        return {
            "customer_id": self.customer_id,
            "user_id": self.user_id,
            "email": self.email,
            "version": self.version,
            "traits": dict(self.traits),
            "trait_versions": dict(self.trait_versions),
            "addresses": [dict(a) for a in self.addresses],
            "default_billing_address_id": self.default_billing_address_id,
            "default_shipping_address_id": self.default_shipping_address_id,
            "deleted": self.deleted,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdentityState:
        """The state ``to_json`` wrote (missing keys take their defaults)."""
        return cls(
            customer_id=str(data["customer_id"]),
            user_id=data.get("user_id"),
            email=data.get("email"),
            version=data.get("version"),
            traits=dict(data.get("traits") or {}),
            trait_versions={str(k): int(v) for k, v in (data.get("trait_versions") or {}).items()},
            addresses=[dict(a) for a in data.get("addresses") or []],
            default_billing_address_id=data.get("default_billing_address_id"),
            default_shipping_address_id=data.get("default_shipping_address_id"),
            deleted=bool(data.get("deleted", False)),
        )


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with one event: its status, the calls to queue, the state to keep."""

    status: PlanStatus
    messages: tuple[SegmentMessage, ...] = ()
    state: IdentityState | None = None
    reason: str | None = None
    user_id: str | None = None
    mapping_version: str | None = None
    destinations: tuple[str, ...] = (DEFAULT_DESTINATION,)


def clone_state(state: IdentityState) -> IdentityState:
    """A copy whose trait, version and address containers can be changed freely."""
    return replace(
        state,
        traits=dict(state.traits),
        trait_versions=dict(state.trait_versions),
        addresses=[dict(a) for a in state.addresses],
    )
