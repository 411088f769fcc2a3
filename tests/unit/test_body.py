"""Hostile-input decoding: every bad body is an InputError with a clear message."""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctsync.errors import InputError, PayloadTooLarge, UnsupportedMediaType
from ctsync.ingress._body import MAX_BODY_BYTES, MAX_DEPTH, decode_json, inflate

CUSTOMER_CREATED = {
    "notificationType": "Message",
    "projectKey": "acme-shop",
    "id": "7d0a1c52-3b8e-4f61-a2d9-5c4e8b7f1a03",
    "version": 1,
    "sequenceNumber": 1,
    "resource": {"typeId": "customer", "id": "0c9b5e34-7d2f-4a55-9b1e-3f6a8d2c41e7"},
    "resourceVersion": 1,
    "type": "CustomerCreated",
    "customer": {
        "email": "Anna.Mueller@Example.com",
        "lastName": "Müller 😀",
        "addresses": [{"id": "kD3fH9sL", "country": "DE", "phone": "030 12345678"}],
        "isEmailVerified": True,
        "custom": {"fields": {"score": 0.5, "visits": -12, "none": None, "big": 2**63}},
    },
}


def rejects(body: bytes, match: str) -> None:
    with pytest.raises(InputError, match=match) as caught:
        decode_json(body)
    assert type(caught.value) is InputError
    assert caught.value.status_code == 400


# -- decode_json: what it accepts -------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        CUSTOMER_CREATED,
        [1, 2.5, "x", None, True, False, {}, []],
        "just a string",
        -0.0,
        {"a": {"a": {"a": 1}}},
        {"emoji": "\U0001f600", "escaped": "a\\u00e9\n\t\"'", "brackets": "[[[{{{"},
        18446744073709551615,  # 20 digits: still allowed
        -18446744073709551615,
        1.7976931348623157e308,
        5e-324,
    ],
)
def test_valid_bodies_round_trip(value: object) -> None:
    for text in (json.dumps(value), json.dumps(value, indent=2, ensure_ascii=False)):
        assert decode_json(text.encode()) == value


def test_surrogate_pairs_and_escaped_backslashes_are_fine() -> None:
    assert decode_json(b'"\\ud83d\\ude00"') == "\U0001f600"
    assert decode_json(b'"\\\\ud800"') == "\\ud800"  # a backslash, then text
    assert decode_json(b'["\\u00e9", "\\uD83D\\uDE00"]') == ["é", "\U0001f600"]


def test_a_utf8_bom_is_tolerated() -> None:
    assert decode_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_exactly_max_depth_is_allowed() -> None:
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert decode_json(deep) is not None
    objects = b'{"a":' * (MAX_DEPTH - 1) + b"[]" + b"}" * (MAX_DEPTH - 1)
    assert decode_json(objects) is not None


def test_many_shallow_containers_are_allowed() -> None:
    body = json.dumps([{"a": [1, {}]} for _ in range(5000)]).encode()
    assert len(decode_json(body)) == 5000


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    inside = "[" * 10_000 + "{" * 10_000
    assert decode_json(json.dumps({"s": inside}).encode()) == {"s": inside}


# -- decode_json: each rejection, with its message --------------------------------


@pytest.mark.parametrize("body", [b"", b"   ", b"\n\t\r\n", b"\xef\xbb\xbf"])
def test_empty_body(body: bytes) -> None:
    rejects(body, "request body is empty")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"a": "\xff"}', "invalid start byte at byte 7"),
        (b'{"a": "\xc3"}', "at byte 7"),  # truncated sequence
        (b'"\xed\xa0\x80"', "at byte 1"),  # an encoded surrogate is not UTF-8
        (b'"\xc0\xaf"', "at byte 1"),  # overlong
        (b"\xff\xfe{\x00}\x00", "at byte 0"),  # UTF-16
    ],
)
def test_invalid_utf8(body: bytes, where: str) -> None:
    rejects(body, f"not valid UTF-8 .*{where}")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"a" 1}', "invalid JSON: Expecting ':' delimiter at line 1 column 6$"),
        (b'{"a": 1,\n "b": }', "Expecting value at line 2 column 7$"),
        (b"[1, 2,]", "Expecting value at line 1 column 7"),
        (b"{'a': 1}", "Expecting property name enclosed in double quotes at line 1 column 2"),
        (b'{"a": 1} x', "Extra data at line 1 column 10"),
        (b'["\x01"]', "Invalid control character at line 1 column 3"),
        (b'"\\x"', "Invalid \\\\escape"),
        (b"01", "Extra data"),
        (b"undefined", "Expecting value at line 1 column 1"),
    ],
)
def test_invalid_json_names_line_and_column(body: bytes, message: str) -> None:
    rejects(body, message)


@pytest.mark.parametrize(
    "body",
    [b'{"a": [1, 2', b'{"a": "unterminated', b'{"a":', b"[", b'{"a": 1', b'"\\'],
)
def test_truncated_json_says_so(body: bytes) -> None:
    rejects(body, r"invalid JSON: .* line 1 column \d+ \(the body ends early: truncated\?\)")


def test_truncated_real_message() -> None:
    body = json.dumps(CUSTOMER_CREATED, indent=2).encode()
    for cut in range(1, len(body) - 1, 7):
        with pytest.raises(InputError, match="invalid JSON"):
            decode_json(body[:cut])


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity(literal: str) -> None:
    rejects(f'{{"price": {literal}}}'.encode(), f"^{literal} is not a JSON number$")


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1.8e308", "123.4E+400"])
def test_float_overflow(number: str) -> None:
    rejects(f"[{number}]".encode(), re.escape(f"number out of range: {number}"))


@pytest.mark.parametrize("digits", [21, 100, 4301, 100_000])
def test_integers_longer_than_20_digits(digits: int) -> None:
    rejects(b"1" * digits, f"number out of range: an integer of {digits} digits")
    rejects(b'{"v": -' + b"9" * digits + b"}", f"an integer of {digits} digits")


@pytest.mark.parametrize(
    "body",
    [
        b'"\\ud800"',  # high alone
        b'"\\udc00"',  # low alone
        b'"\\uDBFF x"',
        b'["ok", "\\ud800\\u0041"]',  # high followed by a non-surrogate escape
        b'"\\udc00\\ud800"',  # reversed pair
        b'{"\\ud800": 1}',  # in a key
        b'"\\\\\\ud800"',  # an escaped backslash, then a real escape
    ],
)
def test_lone_surrogates(body: bytes) -> None:
    rejects(body, "lone surrogate")


def test_duplicate_keys() -> None:
    rejects(b'{"email": "a@x.io", "email": "b@x.io"}', '^duplicate key "email" in a JSON object$')
    rejects(b'{"a": {"b": 1, "c": 2, "b": 3}}', 'duplicate key "b"')
    rejects(b'[{"a": 1}, {"x": 1, "x": 1}]', 'duplicate key "x"')


def test_duplicate_key_message_stays_printable_ascii() -> None:
    key = "é\\ud800" + "k" * 200
    with pytest.raises(InputError) as caught:
        decode_json(f'{{"{key}": 1, "{key}": 2}}'.encode())
    assert str(caught.value).isascii()
    assert len(str(caught.value)) < 120


@pytest.mark.parametrize(
    "body",
    [
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
        b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1),
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000,
        b"[" + b"[[]," * 50_000 + b"1]",  # depth grows by one per repeat
        b"[[]" * 100_000,
        b"[" * 500 + "é".encode() + b"]" * 500,  # junk between the brackets
    ],
)
def test_too_deep_never_recurses(body: bytes) -> None:
    rejects(body, f"JSON nesting is deeper than {MAX_DEPTH} levels")


def test_hostile_bodies_stay_fast() -> None:
    """Pathological inputs for the scans (quotes, escapes, brackets) stay linear."""
    worst = [
        b"[" * 65 + b'"' + b'\\"' * 400_000,
        b"[" * 65 + b'"' * 1_000_000,
        b"[" * 500_000 + b"]" * 500_000,
        b"[" + b"1," * 400_000 + b"1]",
        b'"' + b"\\ud800" * 150_000 + b'"',
    ]
    for body in worst:
        started = time.perf_counter()
        with contextlib.suppress(InputError):
            decode_json(body)
        assert time.perf_counter() - started < 2.0


# -- decode_json: nothing but InputError escapes ----------------------------------

VALID = [
    json.dumps(CUSTOMER_CREATED).encode(),
    b'{"a": [1, -2.5e3, "\\ud83d\\ude00", {"b": null}], "c": true}',
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid body with a few bytes replaced, inserted or removed."""
    body = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        chunk = draw(
            st.sampled_from(
                [
                    b"[",
                    b"{",
                    b"]",
                    b'"',
                    b"\\",
                    b"\\ud800",
                    b"NaN",
                    b"1e999",
                    b"\xff",
                    b"\xc3",
                    b",",
                    b":",
                    b"9" * 30,
                    b'"a":1,"a":2',
                    b"\x00",
                    b"\xef\xbb\xbf",
                ]
            )
            | st.binary(min_size=1, max_size=3)
        )
        if action == "replace":
            body[at : at + len(chunk)] = chunk
        elif action == "insert":
            body[at:at] = chunk
        elif action == "delete":
            del body[at : at + draw(st.integers(1, 5))]
        else:
            del body[at:]
    return bytes(body)


def decodes_or_input_error(body: bytes) -> None:
    try:
        decode_json(body)
    except InputError as exc:
        problem = exc
    else:
        return
    assert type(problem) is InputError
    assert str(problem)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_input_error(body: bytes) -> None:
    decodes_or_input_error(body)


@settings(max_examples=1500, deadline=None)
@given(mutated())
def test_mutated_json_only_raises_input_error(body: bytes) -> None:
    decodes_or_input_error(body)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_any_json_value_round_trips(value: object) -> None:
    body = json.dumps(value).encode()
    try:
        decoded = decode_json(body)
    except InputError as exc:
        problem = str(exc)
    else:
        assert decoded == value
        return
    # Only what we reject on purpose: big integers, lone surrogates from st.text().
    assert any(w in problem for w in ("out of range", "surrogate", "deeper")), problem


# -- inflate ----------------------------------------------------------------------

PAYLOAD = json.dumps(CUSTOMER_CREATED).encode()


@pytest.mark.parametrize("encoding", [None, "", "identity", " Identity "])
def test_identity_is_unchanged(encoding: str | None) -> None:
    assert inflate(PAYLOAD, encoding) is PAYLOAD


@pytest.mark.parametrize("encoding", [None, "identity"])
def test_identity_over_the_limit(encoding: str | None) -> None:
    assert inflate(b"x" * MAX_BODY_BYTES, encoding) == b"x" * MAX_BODY_BYTES
    with pytest.raises(PayloadTooLarge, match="over the 1048576-byte limit") as caught:
        inflate(b"x" * (MAX_BODY_BYTES + 1), encoding)
    assert caught.value.status_code == 413


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "GZIP", "gzip, identity"])
def test_gzip(encoding: str) -> None:
    assert inflate(gzip.compress(PAYLOAD), encoding) == PAYLOAD


def test_gzip_with_several_members_and_padding() -> None:
    body = gzip.compress(b'{"a":') + gzip.compress(b" 1}") + b"\x00" * 8
    assert inflate(body, "gzip") == b'{"a": 1}'


def test_deflate_zlib_wrapped_and_raw() -> None:
    assert inflate(zlib.compress(PAYLOAD), "deflate") == PAYLOAD
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert inflate(raw.compress(PAYLOAD) + raw.flush(), "deflate") == PAYLOAD


def test_inflated_size_exactly_at_the_limit() -> None:
    body = b"0" * MAX_BODY_BYTES
    assert inflate(gzip.compress(body), "gzip") == body
    with pytest.raises(PayloadTooLarge):
        inflate(gzip.compress(body + b"0"), "gzip")
    with pytest.raises(PayloadTooLarge):
        inflate(gzip.compress(body) + gzip.compress(b"0"), "gzip")  # across members


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_zip_bomb_is_stopped_quickly(encoding: str) -> None:
    zeros = b"\x00" * (50 * 1024 * 1024)
    bomb = gzip.compress(zeros, 9) if encoding == "gzip" else zlib.compress(zeros, 9)
    del zeros
    assert len(bomb) < 100_000
    started = time.perf_counter()
    with pytest.raises(PayloadTooLarge, match="over the size limit once inflated"):
        inflate(bomb, encoding)
    assert time.perf_counter() - started < 0.5


def test_custom_limit() -> None:
    with pytest.raises(PayloadTooLarge):
        inflate(gzip.compress(b"x" * 101), "gzip", limit=100)
    assert inflate(gzip.compress(b"x" * 100), "gzip", limit=100) == b"x" * 100


@pytest.mark.parametrize(
    ("body", "encoding", "message"),
    [
        (gzip.compress(PAYLOAD)[:-4], "gzip", "gzip body is truncated"),
        (gzip.compress(PAYLOAD)[:30], "gzip", "gzip body is truncated"),
        (gzip.compress(PAYLOAD)[:5], "gzip", "gzip body is truncated"),
        (b"", "gzip", "gzip body is truncated"),
        (PAYLOAD, "gzip", "gzip body is corrupt"),
        (gzip.compress(PAYLOAD)[:20] + b"\xff" * 40, "gzip", "gzip body is corrupt"),
        (gzip.compress(PAYLOAD) + b"trailing", "gzip", "trailing data that is not gzip"),
        (zlib.compress(PAYLOAD)[:-6], "deflate", "deflate body is truncated"),
        (b"\x78\x9c\xff\xff\xff", "deflate", "deflate body is corrupt"),
    ],
)
def test_corrupt_or_truncated_compression(body: bytes, encoding: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        inflate(body, encoding)
    assert type(caught.value) is InputError


def test_corrupt_crc_is_caught() -> None:
    body = bytearray(gzip.compress(PAYLOAD))
    body[-8] ^= 0xFF  # the CRC32 in the trailer
    with pytest.raises(InputError, match="gzip body is corrupt"):
        inflate(bytes(body), "gzip")


@pytest.mark.parametrize("encoding", ["br", "compress", "zstd", "gzip, br", "\u00e9\u00e9"])
def test_unknown_encoding(encoding: str) -> None:
    with pytest.raises(UnsupportedMediaType, match="unsupported Content-Encoding") as caught:
        inflate(gzip.compress(PAYLOAD), encoding)
    assert caught.value.status_code == 415
    assert str(caught.value).isascii()


def test_two_stacked_codings_but_not_more() -> None:
    twice = gzip.compress(zlib.compress(PAYLOAD))
    assert inflate(twice, "deflate, gzip") == PAYLOAD
    with pytest.raises(UnsupportedMediaType, match="more than 2 Content-Encodings"):
        inflate(gzip.compress(twice), "deflate, gzip, gzip")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["gzip", "deflate", "x-gzip"]))
def test_inflate_arbitrary_bytes_only_raises_input_error(body: bytes, encoding: str) -> None:
    with contextlib.suppress(InputError):
        inflate(body, encoding)


def test_inflate_then_decode() -> None:
    assert decode_json(inflate(gzip.compress(PAYLOAD), "gzip")) == CUSTOMER_CREATED


def test_the_example_deliveries_decode() -> None:
    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))
    assert len(examples) >= 8
    for path in examples:
        body = decode_json(path.read_bytes())
        assert body["projectKey"] == "acme-shop", path.name
