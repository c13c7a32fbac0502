"""The identifier and amount-text rules, and the amount patterns the OpenAPI documents publish."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from fastapi_plumbing.wire_text import (
    AMOUNT_TEXT_PATTERN,
    POSITIVE_AMOUNT_TEXT,
    POSITIVE_MONEY_TEXT,
    printable_ascii,
    strict_amount,
)


@pytest.mark.parametrize("value", ["T-1\u202e2", "T\u200b1", "\uff34-1", "T\u00a01", "T 1", "", "caf\u00e9"])
def test_look_alike_identifiers_are_refused(value):
    with pytest.raises(ValueError, match="printable ASCII"):
        printable_ascii(value)


@pytest.mark.parametrize("value", ["\u0661\u0662", "1_000", " 12", "+12", "1e3", "12.", ".5", "-1", True, False])
def test_amounts_outside_the_grammar_are_refused(value):
    with pytest.raises(ValueError, match="ASCII digits"):
        strict_amount(value)


@pytest.mark.parametrize("text", ["0", "0.0", "0.00", "0.001", "12.", "1_0", "\u0661"])
def test_the_published_money_pattern_excludes_zero_and_what_the_grammar_refuses(text):
    assert not re.fullmatch(POSITIVE_MONEY_TEXT["pattern"], text)


@pytest.mark.parametrize("text", ["0.01", "0.5", "5", "12.50", "007", "1000000"])
def test_what_the_money_pattern_publishes_is_a_positive_amount_of_the_grammar(text):
    assert re.fullmatch(POSITIVE_MONEY_TEXT["pattern"], text) and re.fullmatch(POSITIVE_AMOUNT_TEXT["pattern"], text)
    assert re.fullmatch(AMOUNT_TEXT_PATTERN, text) and Decimal(text) > 0 and strict_amount(text) == text
