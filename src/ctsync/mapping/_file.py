"""Load a mapping file: YAML in, MappingOptions out, or every problem with its key and line.

ruamel.yaml keeps where each key stands, so an error says ``traits.tier (line 12)``
rather than only what is wrong. A file with any problem yields no options at
all: start-up stops, nothing is half-applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ctsync.errors import ConfigError
from ctsync.mapping._schema import MappingFile, check_messages, check_routes
from ctsync.mapping._types import MappingOptions

__all__ = [
    "DEFAULT_MAPPING",
    "MappingFileError",
    "default_mapping_text",
    "load_mapping",
    "parse_mapping",
]

DEFAULT_MAPPING = "default.yaml"
"""The built-in mapping, shipped inside the package (``ctsync/mapping/default.yaml``)."""

Loc = tuple[str | int, ...]


class MappingFileError(ConfigError):
    """A mapping file that cannot be used; ``problems`` lists each, with its key and line."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        listed = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"mapping file {source} is not valid:\n{listed}")


def default_mapping_text() -> str:
    """The text of the built-in mapping file."""
    return resources.files("ctsync.mapping").joinpath(DEFAULT_MAPPING).read_text("utf-8")


def load_mapping(path: Path | None) -> MappingOptions:
    """The options of the mapping file at ``path`` (None: the built-in one); MappingFileError."""
    if path is None:
        return parse_mapping(default_mapping_text(), "(built-in default.yaml)")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingFileError(str(path), [f"cannot read it: {exc}"]) from exc
    return parse_mapping(text, str(path))


def parse_mapping(text: str, source: str) -> MappingOptions:
    """The options a mapping file's text declares; MappingFileError naming keys and lines."""
    try:
        return _parse(text, source)
    except RecursionError:
        raise MappingFileError(source, ["line 1: nested too deeply to be a mapping file"]) from None


def _parse(text: str, source: str) -> MappingOptions:
    document = _load_yaml(text, source)
    if not isinstance(document, dict):
        raise MappingFileError(source, ["line 1: the file must be a YAML map (version: ...)"])
    plain = _plain(document)
    problems: list[tuple[Loc, str]] = []
    try:
        parsed: MappingFile | None = MappingFile.model_validate(plain)
    except ValidationError as exc:
        parsed = None
        problems += [
            (tuple(e["loc"]), e["msg"]) for e in exc.errors(include_url=False, include_input=False)
        ]
    problems += check_messages(plain.get("messages", {}))
    problems += check_routes(plain)
    if problems or parsed is None:
        described = sorted(_describe(document, loc, msg) for loc, msg in problems)
        raise MappingFileError(source, [text for _, text in described])
    return parsed.to_options()


def _load_yaml(text: str, source: str) -> Any:
    from ruamel.yaml import YAML  # noqa: PLC0415 - only a mapping file needs it
    from ruamel.yaml.error import YAMLError  # noqa: PLC0415

    try:
        return YAML(typ="rt").load(text)
    except YAMLError as exc:
        first = " ".join(str(exc).split())
        raise MappingFileError(source, [f"not valid YAML: {first}"]) from None


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (keys as written)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _describe(document: Any, loc: Loc, message: str) -> tuple[int, str]:
    """(line, ``key.path (line N): message``): the line of the deepest key that exists."""
    line, node = 1, document
    for part in loc:
        step = _line_of(node, part)
        if step is None:
            break
        line, node = step[0] + 1, node[part]
    key = ".".join(str(p) for p in loc if not _is_type_tag(p)) or "(top level)"
    return line, f"{key} (line {line}): {message.removeprefix('Value error, ')}"


def _line_of(node: Any, part: str | int) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    if isinstance(node, dict) and part in node:
        return tuple(lc.key(part))
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return tuple(lc.item(part))
    return None


def _is_type_tag(part: str | int) -> bool:
    """pydantic adds the branch of a union or literal to a location ('literal[...]')."""
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))
