"""Loads ``sql/queries.sql``: named blocks of SQL, with per-dialect overrides."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgres"]

_BLOCK = re.compile(r"^-- ([a-z_]+)(?:@(sqlite|postgres))? --$", re.MULTILINE)
_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


def _parse(text: str) -> dict[tuple[str, str | None], str]:
    blocks: dict[tuple[str, str | None], str] = {}
    parts = _BLOCK.split(text)
    # parts: [preamble, name, dialect, body, name, dialect, body, ...]
    for i in range(1, len(parts), 3):
        name, dialect, body = parts[i], parts[i + 1], parts[i + 2]
        lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
        blocks[(name, dialect)] = "\n".join(lines)
    return blocks


def _to_pyformat(sql: str) -> str:
    """``:name`` -> ``%(name)s`` for psycopg, escaping literal percent signs."""
    return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


@cache
def queries(dialect: Dialect) -> dict[str, str]:
    """Every query by name, as the dialect's driver wants it."""
    text = resources.files("ctsync.store").joinpath("sql/queries.sql").read_text("utf-8")
    blocks = _parse(text)
    result = {name: sql for (name, d), sql in blocks.items() if d is None}
    result.update({name: sql for (name, d), sql in blocks.items() if d == dialect})
    if dialect == "postgres":
        result = {name: _to_pyformat(sql) for name, sql in result.items()}
    return result


def migrations(dialect: Dialect) -> list[tuple[int, str]]:
    """Numbered migration scripts for the dialect, in order.

    ``NNNN_name.sql`` serves both dialects; ``NNNN_name.<dialect>.sql`` is one
    dialect's own (as queries have ``name@dialect`` blocks).
    """
    folder = resources.files("ctsync.store").joinpath("sql/migrations")
    found: dict[int, str] = {}
    own: dict[int, str] = {}
    for entry in folder.iterdir():
        match = re.fullmatch(rf"(\d+)_\w+(\.{dialect})?\.sql", entry.name)
        if match:
            table = own if match.group(2) else found
            number = int(match.group(1))
            if number in table:  # two branches took the same number: one would vanish
                msg = f"two migrations are numbered {number:04d}; renumber one"
                raise RuntimeError(msg)
            table[number] = entry.read_text("utf-8")
    return sorted((found | own).items())
