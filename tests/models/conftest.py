"""Shared fixtures for the model tests: tiny scenes (CPU, seconds)."""

from __future__ import annotations

import pytest

from dknet.data.batch import PointBatch
from dknet.testing import synthetic_batch


@pytest.fixture(scope="session")
def tiny_batch() -> PointBatch:
    return synthetic_batch()
