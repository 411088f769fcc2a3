"""What a mapping file may say, checked key by key, and the MappingOptions it means."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ctsync.mapping._types import (
    BUILTIN_TRAITS,
    DEFAULT_DESTINATION,
    Destination,
    MappingOptions,
    Route,
    TraitSpec,
)

__all__ = [
    "BUILTIN_SINKS",
    "IDENTIFY_TYPES",
    "STATE_TYPES",
    "TRACK_TYPES",
    "MappingFile",
    "check_messages",
    "check_routes",
]

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]

IDENTIFY_TYPES = (
    "CustomerCreated",
    "CustomerUpdated",
    "CustomerFirstNameSet",
    "CustomerLastNameSet",
    "CustomerDateOfBirthSet",
    "CustomerCompanyNameSet",
    "CustomerAddressAdded",
    "CustomerAddressChanged",
    "CustomerAddressRemoved",
    "CustomerDefaultBillingAddressSet",
    "CustomerDefaultShippingAddressSet",
    "CustomerEmailChanged",
)
"""Message types that produce an Identify (CustomerEmailChanged: an Alias first, by email)."""
TRACK_TYPES = ("CustomerDeleted", "OrderCreated", "OrderImported")
"""Message types that produce one Track event, named by the file."""
STATE_TYPES = {
    "OrderStateChanged": "orderState",
    "OrderPaymentStateChanged": "paymentState",
    "OrderShipmentStateChanged": "shipmentState",
}
"""Message types that produce a Track per new state (the payload field holding it)."""

_STRICT = ConfigDict(extra="forbid", frozen=True)
_RULE = re.compile(r"^(defaultBilling|defaultShipping|first|key:.+)$")
_REGION = re.compile(r"^[A-Z]{2}$")


class _Trait(BaseModel):
    model_config = _STRICT

    builtin: Literal[BUILTIN_TRAITS] | None = None  # type: ignore[valid-type]
    jmespath: str | None = None

    @field_validator("jmespath")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from jmespath.exceptions import JMESPathError  # noqa: PLC0415

        from ctsync.mapping._expr import compile_expression  # noqa: PLC0415

        try:
            compile_expression(value)
        except JMESPathError as exc:
            msg = f"not a JMESPath expression: {' '.join(str(exc).split())}"
            raise ValueError(msg) from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> _Trait:
        if (self.builtin is None) == (self.jmespath is None):
            msg = "give exactly one of 'builtin' or 'jmespath'"
            raise ValueError(msg)
        return self


class _Address(BaseModel):
    model_config = _STRICT

    choose: list[str] = Field(min_length=1)

    @field_validator("choose")
    @classmethod
    def _rules(cls, value: list[str]) -> list[str]:
        for rule in value:
            if not _RULE.match(rule):
                msg = f"{rule!r}: use defaultBilling, defaultShipping, first or key:<key>"
                raise ValueError(msg)
        return value


class _Phone(BaseModel):
    model_config = _STRICT

    default_region: str | None = None

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION.match(value):
            msg = f"{value!r} is not an ISO 3166 country code such as DE or US"
            raise ValueError(msg)
        return value


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DEST_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
BUILTIN_SINKS = frozenset({"segment", "capture"})


class _Destination(BaseModel):
    model_config = _STRICT

    type: str = "segment"
    write_key_env: str | None = None
    endpoint: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9+.-]*://")
    rate_limit: float | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, value: Any) -> Any:
        if isinstance(value, dict) and "write_key" in value:
            msg = "never write a key in the file: name its environment variable in write_key_env"
            raise ValueError(msg)
        return value

    @field_validator("write_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            msg = f"{value!r} is not an environment variable name"
            raise ValueError(msg)
        return value

    @field_validator("type")
    @classmethod
    def _known_sink(cls, value: str) -> str:
        from ctsync.plugins import SINKS_GROUP, plugin_names  # noqa: PLC0415

        known = BUILTIN_SINKS | plugin_names(SINKS_GROUP)
        if value not in known:
            msg = f"unknown sink type {value!r} (installed: {', '.join(sorted(known))})"
            raise ValueError(msg)
        return value


class _Route(BaseModel):
    model_config = _STRICT

    project: str = Field(min_length=1)
    store: str | None = Field(default=None, min_length=1)
    to: list[str] = Field(min_length=1)


_DEFAULT = MappingOptions()


class MappingFile(BaseModel):
    """The top level of a mapping file (messages are checked by ``check_messages``)."""

    model_config = _STRICT

    version: str = Field(min_length=1, max_length=64)
    identity: Literal["email", "customer_id"] = "email"
    address: _Address = _Address(choose=list(_DEFAULT.address_choice))
    phone: _Phone = _Phone()
    traits: dict[str, _Trait] | None = None
    messages: dict[str, Any] = Field(default_factory=dict)
    destinations: dict[str, _Destination] = Field(default_factory=dict)
    routes: list[_Route] = Field(default_factory=list)
    transforms: list[str] = Field(default_factory=list)

    @field_validator("transforms")
    @classmethod
    def _installed(cls, value: list[str]) -> list[str]:
        from ctsync.plugins import TRANSFORMS_GROUP, plugin_names  # noqa: PLC0415

        missing = sorted(set(value) - plugin_names(TRANSFORMS_GROUP))
        if missing:
            msg = f"no installed package provides the ctsync.transforms {', '.join(missing)}"
            raise ValueError(msg)
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("traits")
    @classmethod
    def _names(cls, value: dict[str, _Trait] | None) -> dict[str, _Trait] | None:
        for name in value or {}:
            if not name.strip():
                msg = "a trait name must not be empty"
                raise ValueError(msg)
        return value

    def to_options(self) -> MappingOptions:
        """The options this file means (sections it leaves out keep the defaults)."""
        traits = _DEFAULT.traits
        if self.traits is not None:
            traits = tuple(
                TraitSpec(name, builtin=t.builtin, expression=t.jmespath)
                for name, t in self.traits.items()
            )
        calls = {**_default_messages(), **self.messages}
        ignored = {t for t, call in calls.items() if call == "ignore"}
        return MappingOptions(
            identity=self.identity,
            deleted_event=_track_name(calls["CustomerDeleted"]) or _DEFAULT.deleted_event,
            version=self.version,
            traits=traits,
            address_choice=tuple(self.address.choose),
            phone_region=self.phone.default_region,
            ignored=frozenset(ignored & {*IDENTIFY_TYPES, "CustomerDeleted"}),
            order_events=tuple(
                (t, name)
                for t in ("OrderCreated", "OrderImported")
                if (name := _track_name(calls[t]))
            ),
            state_events=tuple(
                (t, state, name)
                for t in STATE_TYPES
                if isinstance(calls[t], dict)
                for state, name in calls[t]["track"].items()
            ),
            destinations=tuple(
                Destination(name, d.type, d.write_key_env, d.endpoint, d.rate_limit)
                for name, d in self.destinations.items()
            ),
            routes=tuple(Route(r.project, tuple(r.to), r.store) for r in self.routes),
            transforms=tuple(self.transforms),
        )


def _track_name(call: Any) -> str | None:
    return call["track"] if isinstance(call, dict) else None


def _default_messages() -> dict[str, Any]:
    calls: dict[str, Any] = dict.fromkeys(IDENTIFY_TYPES, "identify")
    calls["CustomerDeleted"] = {"track": _DEFAULT.deleted_event}
    calls.update(dict.fromkeys(("OrderCreated", "OrderImported"), "ignore"))
    calls.update({t: {"track": name} for t, name in _DEFAULT.order_events})
    calls.update(dict.fromkeys(STATE_TYPES, "ignore"))
    for mtype, state, name in _DEFAULT.state_events:
        calls[mtype] = {"track": {**(_track_states(calls[mtype])), state: name}}
    return calls


def _track_states(call: Any) -> dict[str, str]:
    return dict(call["track"]) if isinstance(call, dict) else {}


def check_routes(document: dict[str, Any]) -> list[Problem]:
    """Destination names that are usable, and routes that name defined destinations."""
    problems: list[Problem] = []
    destinations = document.get("destinations")
    names = set(destinations) if isinstance(destinations, dict) else set()
    for name in names:
        if not isinstance(name, str) or not _DEST_NAME.match(name) or name == DEFAULT_DESTINATION:
            why = "a destination name is lower-case letters, digits, - and _ (not 'default')"
            problems.append((("destinations", name), why))
    routes = document.get("routes")
    for i, route in enumerate(routes if isinstance(routes, list) else []):
        targets = route.get("to") if isinstance(route, dict) else None
        for target in targets if isinstance(targets, list) else []:
            if target != DEFAULT_DESTINATION and target not in names:
                why = f"{target!r} is not a destination of this file (nor 'default')"
                problems.append((("routes", i, "to"), why))
    return problems


def check_messages(messages: Any) -> list[Problem]:
    """What is wrong with the ``messages`` section, each with the key it concerns."""
    if not isinstance(messages, dict):
        return [(("messages",), "must be a map of message type -> call")]
    problems: list[Problem] = []
    for mtype, call in messages.items():
        loc: Loc = ("messages", str(mtype))
        problem = _check_call(str(mtype), call)
        if problem is not None:
            problems.append((loc, problem))
    return problems


def _check_call(mtype: str, call: Any) -> str | None:
    if mtype not in IDENTIFY_TYPES + TRACK_TYPES + tuple(STATE_TYPES):
        known = ", ".join((*IDENTIFY_TYPES, *TRACK_TYPES, *STATE_TYPES))
        return f"unknown message type (known: {known})"
    if call == "ignore":
        return None
    if mtype in IDENTIFY_TYPES:
        return None if call == "identify" else "must be 'identify' or 'ignore'"
    if mtype in TRACK_TYPES:
        name = _track_name(call)
        good = isinstance(call, dict) and len(call) == 1 and _is_name(name)
        return None if good else "must be {track: <event name>} or 'ignore'"
    states = call.get("track") if isinstance(call, dict) and len(call) == 1 else None
    states_ok = (
        isinstance(states, dict)
        and bool(states)
        and all(isinstance(k, str) and k and _is_name(v) for k, v in states.items())
    )
    return None if states_ok else "must be {track: {<new state>: <event name>, ...}} or 'ignore'"


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= 200
