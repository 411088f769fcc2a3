"""Entry-point plugins: ``ctsync.sinks`` (where messages go) and ``ctsync.transforms``.

A package adds a CDP by declaring, in its pyproject.toml::

    [project.entry-points."ctsync.sinks"]
    mycdp = "mypackage.sink:make_sink"        # (SinkSpec) -> Sink

    [project.entry-points."ctsync.transforms"]
    tag_brand = "mypackage.transforms:tag_brand"   # (message dict) -> dict | None

A mapping file names the ones it uses (``destinations.<name>.type``,
``transforms``), so installing a package never changes what is sent by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

__all__ = ["SINKS_GROUP", "TRANSFORMS_GROUP", "Transform", "load_plugin", "plugin_names"]

SINKS_GROUP = "ctsync.sinks"
TRANSFORMS_GROUP = "ctsync.transforms"

Transform = Callable[[dict[str, Any]], "dict[str, Any] | None"]
"""Post-processes one Segment message (the /v1/batch item); None drops it."""


def plugin_names(group: str) -> set[str]:
    """The names installed packages declare in ``group``."""
    return {ep.name for ep in entry_points(group=group)}


def load_plugin(group: str, name: str) -> Any:
    """The object the entry point ``name`` of ``group`` points to; KeyError when none."""
    for ep in entry_points(group=group, name=name):
        return ep.load()
    msg = f"no {group} plugin named {name!r} is installed"
    raise KeyError(msg)
