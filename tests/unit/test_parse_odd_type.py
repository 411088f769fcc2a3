"""A Message whose ``type`` is not a string is a clear InputError, never a TypeError.

test_hostile's property test found it: an object as ``type`` beside a ``customer``
made the seed-type lookup raise ``unhashable type`` (a 500).
"""

from __future__ import annotations

from typing import Any

import pytest

from ctsync.errors import InputError
from ctsync.ingress import parse_ct_payload
from tests import payloads


@pytest.mark.parametrize("odd", [{"a": 1}, ["CustomerCreated"], 7, None])
def test_a_non_string_type_is_an_input_error(odd: Any) -> None:
    body = payloads.created("c-1")
    body["type"] = odd
    with pytest.raises(InputError):
        parse_ct_payload(body)
