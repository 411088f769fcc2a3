"""The mapping file's last word on a plan: traits renamed or dropped, message types ignored."""

from __future__ import annotations

from dataclasses import replace

from ctsync.mapping._types import DEFAULT_TRAITS, MappingOptions, Plan, SegmentMessage

__all__ = ["shape_plan"]


def shape_plan(plan: Plan, message_type: str, options: MappingOptions) -> Plan:
    """``plan`` as the mapping file wants it sent; its state (the identity map) is kept as is.

    The identity map keeps every built-in trait under its own name whatever the
    file says, so the per-trait stale guard and derived traits (``name``) work the
    same; only what is sent changes.
    """
    plan = replace(plan, mapping_version=options.version)
    if plan.status != "accepted" or not plan.messages:
        return plan
    if message_type in options.ignored:
        reason = f"the mapping ({options.version}) sends nothing for {message_type}"
        return replace(plan, status="ignored", messages=(), reason=reason)
    if options.traits == DEFAULT_TRAITS:
        return plan
    messages = tuple(m for m in (_renamed(m, options) for m in plan.messages) if m is not None)
    if not messages:
        reason = f"the mapping ({options.version}) sends none of the traits {message_type} changed"
        return replace(plan, status="ignored", messages=(), reason=reason)
    return replace(plan, messages=messages)


def _renamed(message: SegmentMessage, options: MappingOptions) -> SegmentMessage | None:
    """An Identify with its traits under their output names; None when none is left."""
    if message.type != "identify":
        return message
    traits = {}
    for key, value in message.body["traits"].items():
        name = options.output_name(key)
        if name is not None:
            traits[name] = value
    if not traits:
        return None
    return replace(message, body={**message.body, "traits": traits})
