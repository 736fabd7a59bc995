"""The DynamoDB attribute-value codec of the job store, checked against boto3's own.

The adapter has its own codec so that a cold start never imports boto3 (its clients come
from botocore); boto3's ``TypeSerializer``/``TypeDeserializer`` are the reference here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from dicomlens.adapters.aws.dynamodb import (
    attribute_value,
    deserialize,
    plain_value,
    serialize,
)

VALUES: list[Any] = [
    None,
    True,
    False,
    "",
    "uploads/0123/CT small.dcm",
    0,
    -7,
    2**63,
    Decimal("0.1"),
    Decimal("-12.500"),
    Decimal("1E+3"),
    b"\x00\xff",
    [],
    {},
    [1, "a", None, [Decimal("2.5")], {"k": False}],
    {"result": {"labels": [{"name": "CT", "score": Decimal("0.93")}], "n": 3}, "e": None},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_take_the_same_form_as_with_boto3_and_come_back(value: Any) -> None:
    encoded = attribute_value(value)
    assert encoded == TypeSerializer().serialize(value)
    assert plain_value(encoded) == TypeDeserializer().deserialize(encoded)
    expected = Decimal(value) if type(value) is int else value
    assert plain_value(encoded) == expected


def test_sets_from_the_table_read_as_boto3_reads_them() -> None:
    for attribute in ({"SS": ["a", "b"]}, {"NS": ["1", "2.5"]}, {"BS": [b"x"]}):
        assert plain_value(attribute) == TypeDeserializer().deserialize(attribute)


def test_items_round_trip() -> None:
    item = {"jobId": "abc", "attempts": 2, "error": None, "derivedKeys": {"png": "d/x.png"}}
    assert serialize(item) == {k: TypeSerializer().serialize(v) for k, v in item.items()}
    assert deserialize(serialize(item)) == {**item, "attempts": Decimal(2)}


@pytest.mark.parametrize("value", [0.5, Decimal("NaN"), Decimal("Infinity"), object()])
def test_floats_non_finite_numbers_and_other_types_are_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        attribute_value(value)
