"""Numba kernel of ``dknet.ops.voxelize`` (contract: integer outputs identical to the CUDA op).

Serial on purpose: voxelisation usually runs inside data-loading workers, which are forked
processes, and Numba's GNU OpenMP threading layer is not fork-safe. A 150 000-point scene takes a
few milliseconds on one core, so threads would buy little.
"""

from __future__ import annotations

import math

import numpy as np

from dknet.ops._numba._jit import jit
from dknet.ops._numba._sort import RADIX_COUNTS, sort_pairs

__all__ = ["voxelize"]


@jit()
def _bit_length(value: int) -> int:
    """Number of bits needed to write the non-negative ``value`` (0 for 0)."""
    bits = 0
    while value > 0:
        value >>= 1
        bits += 1
    return bits


@jit()
def voxelize(
    coords: np.ndarray, ptr: np.ndarray, voxel_size: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group the points of every scene into voxels of side ``voxel_size``.

    Args:
        coords: (N, 3) float32, metres, C-contiguous.
        ptr: (B+1,) int64 scene boundaries (validated by the caller: starts at 0, non-decreasing,
            ends at N).
        voxel_size: voxel side in metres (> 0); used as float32.

    Returns:
        ``(voxel_coords, point_to_voxel, voxel_to_point_ptr, voxel_to_point_idx, voxel_ptr)``:
        (M, 4) int32 rows ``(b, vx, vy, vz)`` sorted lexicographically, (N,) int64 voxel row of
        each point, (M+1,) int64 and (N,) int64 CSR of the inverse map (point indices ascending
        within a voxel), (B+1,) int64 voxel row boundaries per scene.
    """
    n = coords.shape[0]
    num_scenes = ptr.shape[0] - 1
    vs = np.float32(voxel_size)
    grid = np.empty((n, 3), dtype=np.int64)
    for i in range(n):
        for a in range(3):
            # float32 division then floor, exactly as the contract states.
            grid[i, a] = math.floor(coords[i, a] / vs)

    order = np.empty(n, dtype=np.int64)
    keys = np.empty(n, dtype=np.uint64)
    keys_tmp = np.empty(n, dtype=np.uint64)
    vals_tmp = np.empty(n, dtype=np.int64)
    counts = np.empty(RADIX_COUNTS, dtype=np.int64)
    is_first = np.zeros(n, dtype=np.bool_)
    scene_voxels = np.zeros(num_scenes, dtype=np.int64)

    for b in range(num_scenes):
        start = ptr[b]
        end = ptr[b + 1]
        m = end - start
        if m == 0:
            continue
        lo = np.empty(3, dtype=np.int64)
        hi = np.empty(3, dtype=np.int64)
        for a in range(3):
            lo[a] = grid[start, a]
            hi[a] = grid[start, a]
        for i in range(start, end):
            for a in range(3):
                g = grid[i, a]
                lo[a] = min(lo[a], g)
                hi[a] = max(hi[a], g)
        for i in range(start, end):
            for a in range(3):
                grid[i, a] -= lo[a]
        bits_y = _bit_length(hi[1] - lo[1])
        bits_z = _bit_length(hi[2] - lo[2])
        bits_x = _bit_length(hi[0] - lo[0])
        sl_keys = keys[start:end]
        sl_order = order[start:end]
        for i in range(m):
            sl_order[i] = start + i
        if bits_x + bits_y + bits_z <= 63:
            # One packed key (vx, vy, vz); the stable sort keeps point indices ascending.
            for i in range(m):
                p = start + i
                sl_keys[i] = (
                    (np.uint64(grid[p, 0]) << np.uint64(bits_y + bits_z))
                    | (np.uint64(grid[p, 1]) << np.uint64(bits_z))
                    | np.uint64(grid[p, 2])
                )
            sort_pairs(sl_keys, sl_order, m, keys_tmp, vals_tmp, counts)
        else:
            # Extents too large to pack: three stable passes, least significant axis first.
            for a in range(2, -1, -1):
                for i in range(m):
                    sl_keys[i] = np.uint64(grid[sl_order[i], a])
                sort_pairs(sl_keys, sl_order, m, keys_tmp, vals_tmp, counts)
        count = 0
        for i in range(m):
            p = sl_order[i]
            if i == 0:
                is_first[start + i] = True
            else:
                q = sl_order[i - 1]
                is_first[start + i] = (
                    grid[p, 0] != grid[q, 0] or grid[p, 1] != grid[q, 1] or grid[p, 2] != grid[q, 2]
                )
            if is_first[start + i]:
                count += 1
        scene_voxels[b] = count

    voxel_ptr = np.zeros(num_scenes + 1, dtype=np.int64)
    for b in range(num_scenes):
        voxel_ptr[b + 1] = voxel_ptr[b] + scene_voxels[b]
    num_voxels = voxel_ptr[num_scenes]

    voxel_coords = np.empty((num_voxels, 4), dtype=np.int32)
    point_to_voxel = np.empty(n, dtype=np.int64)
    voxel_to_point_ptr = np.empty(num_voxels + 1, dtype=np.int64)
    voxel_to_point_ptr[0] = 0
    for b in range(num_scenes):
        v = voxel_ptr[b] - 1
        for s in range(ptr[b], ptr[b + 1]):
            p = order[s]
            if is_first[s]:
                v += 1
                voxel_coords[v, 0] = b
                voxel_coords[v, 1] = grid[p, 0]
                voxel_coords[v, 2] = grid[p, 1]
                voxel_coords[v, 3] = grid[p, 2]
                voxel_to_point_ptr[v] = s
            point_to_voxel[p] = v
    voxel_to_point_ptr[num_voxels] = n
    return voxel_coords, point_to_voxel, voxel_to_point_ptr, order, voxel_ptr
