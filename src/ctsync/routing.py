"""The mapping a process uses, and the delivery lanes its destinations need.

Built once at start (Runtime.open): the mapping file of ``CTSYNC_MAPPING``,
the keys its destinations name, one drainer per destination.
"""

from __future__ import annotations

import os
from dataclasses import replace

from pydantic import SecretStr

from ctsync.config import Settings
from ctsync.delivery import Drainer, Lanes, drainer_config
from ctsync.errors import ConfigError
from ctsync.mapping import MappingOptions
from ctsync.mapping._types import DEFAULT_DESTINATION
from ctsync.sinks import Sink, SinkSpec, build_sink
from ctsync.store import Store

__all__ = ["build_lanes", "destination_keys", "mapping_options"]


def mapping_options(settings: Settings) -> MappingOptions:
    """The mapping of ``CTSYNC_MAPPING`` (MappingFileError when bad), else the built-in one."""
    if settings.mapping_path is None:
        return MappingOptions()  # the same as default.yaml (a test keeps them equal)
    from ctsync.mapping.file import load_mapping  # noqa: PLC0415 - YAML only when needed

    return load_mapping(settings.mapping_path)


def destination_keys(options: MappingOptions) -> dict[str, SecretStr | None]:
    """Each destination's key, from the variable its mapping file names (ConfigError if unset).

    The one read of the environment outside Settings: the mapping file chooses
    these names, so Settings cannot declare them. Read once, at start.
    """
    keys: dict[str, SecretStr | None] = {}
    for dest in options.destinations:
        if dest.write_key_env is None:
            keys[dest.name] = None
            continue
        value = os.environ.get(dest.write_key_env)
        if not value:
            msg = f"destination {dest.name!r}: environment variable {dest.write_key_env} is not set"
            raise ConfigError(msg)
        keys[dest.name] = SecretStr(value)
    return keys


def build_lanes(
    store: Store,
    default: Drainer,
    options: MappingOptions,
    keys: dict[str, SecretStr | None],
    settings: Settings,
) -> Lanes:
    """One lane for the default destination and one per destination of the mapping file."""
    drainers = {DEFAULT_DESTINATION: default}
    sinks: dict[str, Sink] = {}
    for dest in options.destinations:
        sinks[dest.name] = sink = build_sink(
            SinkSpec(
                name=dest.name,
                type=dest.type,
                endpoint=dest.endpoint,
                write_key=keys[dest.name],
                timeout_s=settings.sink_timeout_s,
            )
        )
        config = replace(
            drainer_config(settings), destination=dest.name, rate_limit=dest.rate_limit
        )
        drainers[dest.name] = Drainer(store, sink, config)
    return Lanes(drainers, sinks)
