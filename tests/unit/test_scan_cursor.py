"""A backfill's id ranges: every id is read by exactly one of them, and a stored cursor resumes."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctsync.backfill import STREAMS, BackfillOptions, ScanCursor
from ctsync.errors import InputError


def _holders(cursor: ScanCursor, rid: str) -> list[int]:
    found = []
    for stream in range(cursor.streams):
        low, high = cursor.bounds(stream)
        if (low is None or rid >= low) and (high is None or rid < high):
            found.append(stream)
    return found


@pytest.mark.parametrize("streams", STREAMS)
@given(rid=st.text(min_size=1, max_size=40) | st.uuids().map(str))
def test_every_id_falls_in_exactly_one_range(streams: int, rid: str) -> None:
    assert len(_holders(ScanCursor.fresh(streams), rid)) == 1


def test_uuids_spread_over_the_ranges() -> None:
    cursor = ScanCursor.fresh(4)
    counts = [0] * 4
    for _ in range(4000):
        [stream] = _holders(cursor, str(uuid.uuid4()))
        counts[stream] += 1
    assert all(800 < c < 1200 for c in counts)  # about a quarter each


def test_a_stored_cursor_resumes_where_each_range_stood() -> None:
    cursor = ScanCursor(("4a", None, "b1", None), (False, True, False, False))
    again = ScanCursor.parse(cursor.to_json())
    assert again == cursor
    assert again.started
    assert not ScanCursor.fresh(4).started


def test_an_earlier_ctsyncs_single_cursor_is_one_range() -> None:
    cursor = ScanCursor.parse("3f2c-last-id")
    assert (cursor.streams, cursor.after, cursor.bounds(0)) == (1, ("3f2c-last-id",), (None, None))


def test_a_cursor_of_an_unknown_shape_is_refused() -> None:
    with pytest.raises(InputError):
        ScanCursor.parse('{"after": [null, null, null], "done": [false, false, false]}')


@pytest.mark.parametrize("streams", [0, 3, 5, 32, -4])
def test_a_number_of_ranges_that_does_not_divide_the_hex_digits_is_refused(streams: int) -> None:
    with pytest.raises(InputError, match="--streams takes one of 1, 2, 4, 8, 16"):
        BackfillOptions(streams=streams)
