"""Fixtures of the transform tests: a fresh semantic layer in the session's BigQuery emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .semantic_layer import Semantic, create_semantic


@pytest.fixture
def semantic(bigquery_endpoint: str) -> Iterator[Semantic]:
    """Orders and customers under a dataset prefix of their own."""
    layer = create_semantic(bigquery_endpoint)
    yield layer
    layer.client.close()
