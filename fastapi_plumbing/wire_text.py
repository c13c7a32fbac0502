"""What both services accept as identifiers and as amounts written as text (issue 13 #9).

Identifiers are printable ASCII without spaces: no bidi override (U+202E), zero-width or full-width
look-alike can show one customer or terminal as another, or split one profile in two. Amounts written as
text are ASCII digits with at most one point: Python's Decimal and float would also take "١٢" (12) or
"1_000" (1000), which no client means; JSON's true is not an amount either.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

IDENTIFIER_PATTERN = r"^[!-~]+$"
AMOUNT_TEXT_PATTERN = r"^[0-9]+(\.[0-9]+)?$"


def printable_ascii(value: str) -> str:
    if not re.fullmatch(IDENTIFIER_PATTERN, value):
        raise ValueError("must be printable ASCII (letters, digits, punctuation) without spaces")
    return value


def strict_amount(value: Any) -> Any:
    """Before a number type's own parsing: a string must follow the grammar; a boolean is refused."""
    if isinstance(value, bool) or (isinstance(value, str) and not re.fullmatch(AMOUNT_TEXT_PATTERN, value)):
        raise ValueError("must be a number, or a string of ASCII digits with an optional '.', e.g. 12.50")
    return value


def identifier(max_length: int) -> Any:
    """A str field of 1..max_length printable ASCII characters (the pattern is in the OpenAPI document)."""
    return Annotated[str, Field(min_length=1, max_length=max_length, json_schema_extra={"pattern": IDENTIFIER_PATTERN}),
                     AfterValidator(printable_ascii)]


# The string form of a positive amount as the OpenAPI documents show it: the grammar with zero excluded
# (a client reading the document can tell what will be accepted); with at most two decimals for money.
POSITIVE_AMOUNT_TEXT = {"type": "string", "pattern": r"^(0*[1-9][0-9]*(\.[0-9]+)?|0+\.0*[1-9][0-9]*)$"}
POSITIVE_MONEY_TEXT = {"type": "string",
                       "pattern": r"^(0*[1-9][0-9]*(\.[0-9]{1,2})?|0+\.(0[1-9]|[1-9][0-9]?))$"}

StrictAmountText = BeforeValidator(strict_amount)
