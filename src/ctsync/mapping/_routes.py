"""Routes: which destinations an event's messages go to (the mapping file's ``routes``)."""

from __future__ import annotations

from typing import Any

from ctsync.mapping._types import DEFAULT_DESTINATION, MappingOptions

__all__ = ["route", "store_keys"]


def route(options: MappingOptions, project_key: str, payload: Any) -> tuple[str, ...]:
    """The destinations of the first route matching the project (and a store it names)."""
    if not options.routes:
        return (DEFAULT_DESTINATION,)
    stores = store_keys(payload)
    for candidate in options.routes:
        if candidate.project == project_key and (
            candidate.store is None or candidate.store in stores
        ):
            return candidate.to
    return (DEFAULT_DESTINATION,)


def store_keys(payload: Any) -> set[str]:
    """The store keys a payload names: a customer's ``stores``, an order's ``store``.

    Delta messages name none, so only routes without a store match them.
    """
    if not isinstance(payload, dict):
        return set()
    keys: set[str] = set()
    for holder in (payload.get("customer"), payload):
        stores = holder.get("stores") if isinstance(holder, dict) else None
        for store in stores if isinstance(stores, list) else []:
            if isinstance(store, dict) and isinstance(store.get("key"), str):
                keys.add(store["key"])
    for holder in (payload.get("order"), payload):
        store = holder.get("store") if isinstance(holder, dict) else None
        if isinstance(store, dict) and isinstance(store.get("key"), str):
            keys.add(store["key"])
    return keys
