from __future__ import annotations

import re

import pytest
from google.api_core import exceptions as gexc

from dayflow.errors import UserError
from dayflow.warehouse import TableRef, classify_error


def test_partition_decorators_are_refused_with_a_clear_error() -> None:
    with pytest.raises(
        UserError, match=re.escape("table 'sales$20240101' uses a partition decorator")
    ):
        TableRef("local", "mart", "sales$20240101")


def test_identifiers_are_validated_before_they_reach_sql() -> None:
    with pytest.raises(
        UserError, match=re.escape("dataset 'mart`; DROP' is not a valid BigQuery name")
    ):
        TableRef("local", "mart`; DROP", "sales")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (gexc.ServiceUnavailable("backend"), True),
        (gexc.InternalServerError("oops"), True),
        (gexc.TooManyRequests("slow down"), True),
        (gexc.BadRequest("Transaction is aborted due to concurrent update against table x"), True),
        (gexc.BadRequest("Failed to commit: Failed to commit DuckLake transaction."), True),
        (gexc.Forbidden("quota", errors=[{"reason": "rateLimitExceeded"}]), True),
        (gexc.BadRequest("Unrecognized name: no_such_column"), False),
        (gexc.NotFound("Table x was not found"), False),
        (gexc.Forbidden("Access Denied", errors=[{"reason": "accessDenied"}]), False),
    ],
)
def test_bigquery_errors_are_classified_transient_or_permanent(
    error: Exception, transient: bool
) -> None:
    assert classify_error(error).transient is transient
