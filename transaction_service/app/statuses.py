"""The values of a transaction's status and of who decided it, defined once for the whole service: the
tables, the schemas and the fraud client's answer check all read them from here."""

from __future__ import annotations

from typing import Literal, get_args

# What a decision can be (the model's, the fallback policy's or an analyst's).
Decision = Literal["APPROVED", "BLOCKED"]
Status = Literal["PENDING", Decision]
DecidedBy = Literal["model", "fallback", "analyst"]

PENDING, APPROVED, BLOCKED = get_args(Status)
MODEL, FALLBACK, ANALYST = get_args(DecidedBy)
