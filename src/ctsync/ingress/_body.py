"""Turn a request body into JSON, treating every byte as hostile.

Every failure is an ``InputError`` (400) or one of its subclasses (413, 415)
with a message that says what is wrong; nothing else escapes, so hostile input
never becomes a 5xx.

No third-party parser: the stdlib ``json`` module with its hooks
(``object_pairs_hook``, ``parse_constant``, ``parse_float``, ``parse_int``)
already rejects what we must reject, and what it cannot see (nesting depth,
lone surrogates) costs a few C-speed passes over the text, and only when the
text could hold it.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from typing import Any

from ctsync.errors import InputError, PayloadTooLarge, UnsupportedMediaType

__all__ = ["MAX_BODY_BYTES", "MAX_DEPTH", "decode_json", "inflate"]

MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 64
_MAX_INT_DIGITS = 20  # 2**64 has 20 digits; anything longer is not an id or a count

_MAX_CODINGS = 2  # each layer may inflate up to the limit: bound the work
_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW_DEFLATE = -zlib.MAX_WBITS
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"

# A string, or an unterminated one up to the end (json stops there too). Possessive
# quantifiers and the optional closing quote keep the scan linear on any input.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
# Brackets become ( and ); every other ASCII character goes (anything else outside
# a string is invalid JSON, and a kept character only makes the depth bound larger).
_BRACKETS_ONLY = (
    {i: None for i in range(128)} | {ord(c): "(" for c in "[{"} | {ord(c): ")" for c in "]}"}
)
_TOO_DEEP = "(" * (MAX_DEPTH + 1)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def inflate(body: bytes, content_encoding: str | None, limit: int = MAX_BODY_BYTES) -> bytes:
    """Undo the request's Content-Encoding, never producing more than ``limit`` bytes.

    Decompression stops at ``limit + 1`` bytes of output, so a zip bomb costs
    at most that much memory. Codings listed together (``gzip, identity``) are
    undone last first.
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c not in {"", "identity"}]
    if len(codings) > _MAX_CODINGS:
        raise UnsupportedMediaType(f"more than {_MAX_CODINGS} Content-Encodings stacked")
    data = body
    for coding in reversed(codings):
        if coding in {"gzip", "x-gzip"}:
            data = _inflate_gzip(data, limit)
        elif coding == "deflate":
            data = _inflate_deflate(data, limit)
        else:
            shown = json.dumps(coding[:40])
            raise UnsupportedMediaType(
                f"unsupported Content-Encoding {shown}: send the body as identity or gzip"
            )
    if len(data) > limit:
        raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
    return data


def _inflate_gzip(data: bytes, limit: int) -> bytes:
    """Inflate every gzip member of ``data`` (a gzip file may hold several)."""
    out = bytearray()
    rest = data
    while True:
        chunk, rest = _inflate_one(rest, _GZIP, limit - len(out), "gzip")
        out += chunk
        if not rest.strip(b"\x00"):  # gzip allows zero padding after the last member
            return bytes(out)
        if not rest.startswith(_GZIP_MAGIC):
            raise InputError("gzip body has trailing data that is not gzip")


def _inflate_deflate(data: bytes, limit: int) -> bytes:
    """HTTP ``deflate`` means zlib-wrapped, but some senders use raw deflate."""
    wbits = _ZLIB if _zlib_header(data) else _RAW_DEFLATE
    return _inflate_one(data, wbits, limit, "deflate")[0]


def _zlib_header(data: bytes) -> bool:
    """RFC 1950: method 8 in the low nibble, and the first two bytes a multiple of 31."""
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _inflate_one(data: bytes, wbits: int, budget: int, name: str) -> tuple[bytes, bytes]:
    """Inflate one compressed stream into at most ``budget`` bytes; return it and what follows."""
    decompressor = zlib.decompressobj(wbits)
    try:
        # Below max_length, zlib consumes all the input it can: one call is enough.
        out = decompressor.decompress(data, budget + 1)
    except zlib.error as exc:
        raise InputError(f"{name} body is corrupt: {exc}") from exc
    if len(out) > budget:
        raise PayloadTooLarge("request body is over the size limit once inflated")
    if not decompressor.eof:
        raise InputError(f"{name} body is truncated")
    return out, decompressor.unused_data


def decode_json(body: bytes) -> Any:
    """Parse a JSON body strictly: UTF-8, no duplicate keys, bounded depth and numbers."""
    text = _decode_utf8(body)
    if not text.strip():
        raise InputError("request body is empty")
    _check_depth(text)
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InputError(_describe(exc, text)) from exc
    except (ValueError, RecursionError, MemoryError) as exc:  # belt and braces
        raise InputError(f"invalid JSON: {type(exc).__name__}") from exc
    if _SURROGATE_ESCAPE.search(text):
        _check_surrogates(value)
    return value


def _decode_utf8(body: bytes) -> str:
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"request body is not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from exc


def _check_depth(text: str) -> None:
    """Reject nesting deeper than MAX_DEPTH before ``json`` recurses into it.

    Outside strings, brackets become ``(`` and ``)``; each pass of removing
    ``()`` strips one level of leaves, so the passes needed are the depth.
    Openers left unmatched (invalid JSON) still count, keeping the bound safe.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return  # cannot be deeper than the number of openers: the common, fast case
    brackets = _STRING.sub("", text).translate(_BRACKETS_ONLY)
    for passes in range(MAX_DEPTH + 1):
        if passes + brackets.count("(") <= MAX_DEPTH:
            return
        if _TOO_DEEP in brackets:  # a plain run of openers: a quick, common verdict
            break
        shorter = brackets.replace("()", "")
        if len(shorter) == len(brackets):
            break
        brackets = shorter
    raise InputError(f"JSON nesting is deeper than {MAX_DEPTH} levels")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InputError(f"duplicate key {json.dumps(key[:60])} in a JSON object")
            seen.add(key)
    return obj


def _reject_constant(name: str) -> Any:
    raise InputError(f"{name} is not a JSON number")


def _parse_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise InputError(f"number out of range: {literal[:40]}")
    return value


def _parse_int(literal: str) -> int:
    if len(literal) > _MAX_INT_DIGITS and len(literal.lstrip("-")) > _MAX_INT_DIGITS:
        digits = len(literal.lstrip("-"))
        raise InputError(f"number out of range: an integer of {digits} digits")
    return int(literal)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object,
    parse_constant=_reject_constant,
    parse_float=_parse_float,
    parse_int=_parse_int,
)


def _check_surrogates(value: Any) -> None:
    """Lone surrogates (``"\\ud800"``) parse fine but cannot be encoded again."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError("JSON string holds a lone surrogate escape (\\ud800-\\udfff)") from exc


def _describe(exc: json.JSONDecodeError, text: str) -> str:
    at = "" if exc.msg.endswith(" at") else " at"
    where = f"invalid JSON: {exc.msg}{at} line {exc.lineno} column {exc.colno}"
    if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
        return f"{where} (the body ends early: truncated?)"
    return where
