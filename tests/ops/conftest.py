"""Shared pytest hooks for the op tests.

Tests (or parametrised cases) marked ``cuda`` run the op on a CUDA device with the compiled
extension forced (``DKNET_OPS_BACKEND=ext``) and compare it with the Numba result; they are
skipped when no CUDA device is visible.
"""

from __future__ import annotations

import pytest
import torch


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (torch.cuda.is_available() is False)")


@pytest.fixture
def numba_threads():
    """Set Numba's thread count for one test and restore it afterwards."""
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()

    def set_threads(count: int) -> int:
        count = max(1, min(count, numba.config.NUMBA_NUM_THREADS))
        numba.set_num_threads(count)
        return count

    yield set_threads
    numba.set_num_threads(before)
