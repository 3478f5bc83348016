"""dknet's geometric ops: voxelisation, candidate mining, candidate merging, Otsu thresholds.

Every op has one signature and runs on two backends that give the same answer: the compiled
CUDA extension (``torch.ops.dknet.*``, CUDA tensors only) and Numba kernels on the CPU. The
backend is chosen per call from the tensor's device and ``DKNET_OPS_BACKEND``
(``auto``/``ext``/``numba``, see :mod:`dknet.ops._backend`). Importing this package loads
neither Numba nor the extension; each is loaded on first use.
"""

from __future__ import annotations

from dknet.ops.candidates import Candidates, mine_candidates
from dknet.ops.merging import Groups, merge_candidates
from dknet.ops.otsu import otsu_thresholds
from dknet.ops.voxelize import Voxels, voxelize

__all__ = [
    "Candidates",
    "Groups",
    "Voxels",
    "merge_candidates",
    "mine_candidates",
    "otsu_thresholds",
    "voxelize",
]
