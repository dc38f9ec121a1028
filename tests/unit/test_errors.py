"""Typed errors cross the wire as themselves, with their details intact."""

import pytest
from nameko.exceptions import deserialize, serialize

from shop.errors import InsufficientStock, NotFound


@pytest.mark.parametrize("error", [
    InsufficientStock("short", {"items": {"p1": {"requested": 4, "available": 3}}}),
    NotFound("gone"),
])
def test_an_error_comes_back_as_the_same_type_with_the_same_details(error):
    back = deserialize(serialize(error))
    assert type(back) is type(error)
    assert (back.message, back.details) == (error.message, error.details)
