"""The mapping file: load and check one (``CTSYNC_MAPPING``), or the built-in default.

A public module of its own, so the mapping stage's pure planners stay import-light:
YAML is read only when a file is loaded.
"""

from __future__ import annotations

from ctsync.mapping._file import (
    DEFAULT_MAPPING,
    MappingFileError,
    default_mapping_text,
    load_mapping,
    parse_mapping,
)

__all__ = [
    "DEFAULT_MAPPING",
    "MappingFileError",
    "default_mapping_text",
    "load_mapping",
    "parse_mapping",
]
