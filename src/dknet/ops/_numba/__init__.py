"""Numba (CPU) implementations of dknet's ops.

Private: call the public wrappers in :mod:`dknet.ops`. Importing this package imports Numba and
prepares (or loads from the on-disk cache) the kernels, so the public wrappers import it inside
their function bodies, on first use only. Every kernel takes and returns contiguous numpy arrays
with exactly the dtypes and order of the matching ``torch.ops.dknet.*`` extension op.
"""

from __future__ import annotations

from dknet.ops._numba.candidates import mine_candidates
from dknet.ops._numba.merging import merge_candidates
from dknet.ops._numba.otsu import otsu_thresholds
from dknet.ops._numba.voxelize import voxelize

__all__ = ["merge_candidates", "mine_candidates", "otsu_thresholds", "voxelize"]
