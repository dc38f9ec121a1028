"""Typed errors cross the wire as themselves, with their details intact."""

import pytest
from nameko.exceptions import deserialize, serialize

from shop.errors import InsufficientStock, InvalidInput, NotFound


@pytest.mark.parametrize("error", [
    InsufficientStock("short", {"items": {"p1": {"requested": 4, "available": 3}}}),
    NotFound("gone"),
])
def test_an_error_comes_back_as_the_same_type_with_the_same_details(error):
    back = deserialize(serialize(error))
    assert type(back) is type(error)
    assert (back.message, back.details) == (error.message, error.details)


@pytest.mark.parametrize("details, kept", [
    ("just words", {"detail": "just words"}),
    ('["a", "list"]', {"detail": ["a", "list"]}),
    ('{"field": ["Bad."]}', {"field": ["Bad."]}),
    (None, None),
])
def test_details_given_as_text_are_kept_not_a_crash(details, kept):
    error = InvalidInput("The input is not valid.", details)
    assert error.details == kept and str(error) == "The input is not valid."
