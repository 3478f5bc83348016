"""Numba kernel of ``dknet.ops.mine_candidates`` (LN-NMS, ALGORITHM.md section 5).

Per scene:

1. A uniform grid with cells of side R (slightly enlarged), filled by one stable counting sort;
   coordinates, heat and classes are copied into cell order, so a query reads a few contiguous
   runs of memory. A query visits only the (x, y) columns whose footprint meets its sphere,
   and in each column only the z-cells the sphere can reach.
2. One stable radix sort of the eligible points by (-heat, index): the visiting order.
3. The sequential suppression loop. Its inner loop is branch-free (suppress, count F, test
   local normalisation as an "any" reduction), so the compiler vectorises it.
4. Each candidate's foreground/background lists are gathered, capped and sorted.

With several scenes, scenes (steps 1-3) and then candidates (step 4) run in parallel; every
parallel iteration writes only its own scene's or candidate's slots, so results never depend on
the thread count. A single scene runs serially: its parallel share is too small to pay for
waking threads, and on a busy machine a parallel region can stall on a descheduled thread.
Distances follow the contract's float32 formula without fused multiply-adds (Numba does not
contract unless ``fastmath`` is on).

Grid search correctness: a float32 ``d2 < R2`` (R2 = float32(R)^2 rounded) implies a true
distance below R * (1 + 4e-7), so searching a sphere of radius R * (1 + 1e-5) in float64 finds
every point the exact float32 test can accept; the test itself decides membership.

Loops over grid positions use unsigned indices: with signed ones Numba keeps its
negative-index wraparound, which turns every load into a gather and made the scans ~3x slower.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from dknet.ops._numba._jit import dynamic_schedule, jit
from dknet.ops._numba._sort import RADIX_COUNTS, sort_pairs

__all__ = ["mine_candidates"]

_SEARCH_MARGIN = 1.0 + 1e-5
# Upper bound on grid cells per point; sparse scenes with a tiny radius get coarser cells.
_CELLS_PER_POINT = 8
_MIN_CELL_BUDGET = 4096
# Most (x, y) columns a query of radius 2R can touch with cells of side >= R: 6 x 6.
_MAX_COLUMNS = 36
# Candidates of a multi-scene batch are gathered in this many chunks, each with private scratch
# buffers. A constant (not the thread count) keeps the kernel cacheable and the split fixed.
_GATHER_CHUNKS = 64

_SIGN_BIT = np.uint64(0x80000000)
_LOW_32_BITS = np.uint64(0xFFFFFFFF)
_NO_BITS = np.uint64(0)


class _Grid(NamedTuple):
    """Uniform grids of all scenes, with the points copied into cell order.

    Attributes:
        origin: (S, 3) float64 minimum corner of each scene's grid.
        cell: (S,) float64 cell side of each scene's grid (>= R * (1 + 1e-5)).
        dims: (S, 3) int64 cells per axis.
        cell_base: (B+1,) int64 first entry of each scene in ``cell_start``.
        cell_start: (cells + B,) int64 first grid position of each cell, plus one end sentinel
            per scene (so no two scenes write the same entry).
        x, y, z: (N,) float32 coordinates in grid order.
        heat: (N,) float32 heat in grid order.
        semantic: (N,) int64 classes in grid order.
        point_idx: (N,) int64 global point index of each grid position.
    """

    origin: np.ndarray
    cell: np.ndarray
    dims: np.ndarray
    cell_base: np.ndarray
    cell_start: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    heat: np.ndarray
    semantic: np.ndarray
    point_idx: np.ndarray


class _Params(NamedTuple):
    """Scalar parameters, rounded as the contract states."""

    r2: np.float32  # float32(R) * float32(R)
    r2_bg: np.float32  # 4 * r2
    ratio: np.float32  # local_ratio
    threshold: np.float32  # score_threshold
    search: float  # float64 search radius for R, with the rounding margin
    max_candidates: int
    max_neighbors: int


@jit()
def _cell_of(value: float, origin: float, inv_cell: float, dim: int) -> int:
    """Cell of a coordinate along one axis, clamped into ``[0, dim)``."""
    k = math.floor((value - origin) * inv_cell)
    if k < 0:
        return 0
    if k >= dim:
        return dim - 1
    return k


@jit()
def _descending_heat_key(float_bits: np.uint32) -> np.uint64:
    """Map float32 bits to a key that sorts ascending in *decreasing* float order.

    -0.0 is folded onto +0.0 so that equal heats tie and fall back to the index rule. All
    arithmetic stays in uint64 (Numba would promote mixed small unsigned types to signed ones).
    """
    bits = np.uint64(float_bits)
    if bits == _SIGN_BIT:
        bits = _NO_BITS
    if (bits & _SIGN_BIT) != _NO_BITS:
        ordered = _LOW_32_BITS - bits  # negative floats: larger magnitude -> smaller key
    else:
        ordered = bits | _SIGN_BIT
    return _LOW_32_BITS - ordered


@jit()
def _gap(value: float, low: float, high: float) -> float:
    """Distance from ``value`` to the interval ``[low, high]`` (0 inside)."""
    if value < low:
        return low - value
    if value > high:
        return value - high
    return 0.0


@jit()
def _query_runs(
    grid: _Grid, b: int, x: float, y: float, z: float, search: float, runs: np.ndarray
) -> int:
    """Write the grid-order runs ``[start, end)`` that cover the sphere (x, y, z, search).

    Returns:
        The number of runs written into ``runs`` ((>= _MAX_COLUMNS, 2) int64).
    """
    origin = grid.origin[b]
    dims = grid.dims[b]
    cell = grid.cell[b]
    inv_cell = 1.0 / cell
    base = grid.cell_base[b]
    cell_start = grid.cell_start
    x0 = _cell_of(x - search, origin[0], inv_cell, dims[0])
    x1 = _cell_of(x + search, origin[0], inv_cell, dims[0])
    y0 = _cell_of(y - search, origin[1], inv_cell, dims[1])
    y1 = _cell_of(y + search, origin[1], inv_cell, dims[1])
    search2 = search * search
    count = 0
    for ix in range(x0, x1 + 1):
        gap_x = _gap(x, origin[0] + ix * cell, origin[0] + (ix + 1) * cell)
        for iy in range(y0, y1 + 1):
            gap_y = _gap(y, origin[1] + iy * cell, origin[1] + (iy + 1) * cell)
            rest = search2 - gap_x * gap_x - gap_y * gap_y
            if rest < 0.0:
                continue
            reach = math.sqrt(rest)
            z0 = _cell_of(z - reach, origin[2], inv_cell, dims[2])
            z1 = _cell_of(z + reach, origin[2], inv_cell, dims[2])
            column = base + (ix * dims[1] + iy) * dims[2]
            start = cell_start[column + z0]
            end = cell_start[column + z1 + 1]
            if end > start:
                runs[count, 0] = start
                runs[count, 1] = end
                count += 1
    return count


@jit()
def _squared_distance(
    gx: np.ndarray, gy: np.ndarray, gz: np.ndarray, p: int, xc: float, yc: float, zc: float
) -> float:
    """The contract's float32 squared distance, ``(dx*dx + dy*dy) + dz*dz`` (no FMA).

    Defined once so every loop (suppression, counting, gathering) rounds identically, which is
    what makes the Numba and CUDA backends agree bit for bit.
    """
    dx = gx[p] - xc
    dy = gy[p] - yc
    dz = gz[p] - zc
    return (dx * dx + dy * dy) + dz * dz


@jit()
def _visit(
    grid: _Grid,
    runs: np.ndarray,
    num_runs: int,
    c: int,
    coords: np.ndarray,
    heat: np.ndarray,
    semantic: np.ndarray,
    params: _Params,
    suppressed: np.ndarray,
) -> tuple[int, bool]:
    """Suppress every point within R of c; return |F| and whether c fails local normalisation.

    ``heat[c] < ratio * max(heat over F)`` is evaluated as "some j in F has
    ``heat[c] < ratio * heat[j]``": float32 rounding is monotone, so both are the same test,
    and the second is an integer reduction, so the loop has no branch and vectorises.
    """
    xc = coords[c, 0]
    yc = coords[c, 1]
    zc = coords[c, 2]
    hc = heat[c]
    sc = semantic[c]
    r2 = params.r2
    ratio = params.ratio
    gx = grid.x
    gy = grid.y
    gz = grid.z
    gheat = grid.heat
    gsem = grid.semantic
    count = 0
    beaten = 0
    for k in range(num_runs):
        for p in range(np.uint64(runs[k, 0]), np.uint64(runs[k, 1])):
            d2 = _squared_distance(gx, gy, gz, p, xc, yc, zc)
            inside = d2 < r2
            same = inside & (gsem[p] == sc)
            suppressed[p] |= inside
            count += same
            beaten |= same & (hc < ratio * gheat[p])
    return count, beaten != 0


@jit()
def _count_other_class(
    grid: _Grid,
    runs: np.ndarray,
    num_runs: int,
    c: int,
    coords: np.ndarray,
    sc: int,
    r2: np.float32,
) -> int:
    """Number of points with ``d2 < r2`` (float32) whose class differs from ``sc``."""
    xc = coords[c, 0]
    yc = coords[c, 1]
    zc = coords[c, 2]
    gx = grid.x
    gy = grid.y
    gz = grid.z
    gsem = grid.semantic
    count = 0
    for k in range(num_runs):
        for p in range(np.uint64(runs[k, 0]), np.uint64(runs[k, 1])):
            d2 = _squared_distance(gx, gy, gz, p, xc, yc, zc)
            count += (d2 < r2) & (gsem[p] != sc)
    return count


@jit()
def _gather(
    grid: _Grid,
    runs: np.ndarray,
    num_runs: int,
    c: int,
    coords: np.ndarray,
    sc: int,
    r2: np.float32,
    same_class: bool,
    out_idx: np.ndarray,
    out_d2: np.ndarray,
) -> int:
    """List the points with ``d2 < r2`` (float32) whose class equals / differs from ``sc``.

    Branch-free compaction: every point is written at the next free slot and the slot only
    advances when the point belongs to the set, so ``out_*`` need one spare entry.
    """
    xc = coords[c, 0]
    yc = coords[c, 1]
    zc = coords[c, 2]
    gx = grid.x
    gy = grid.y
    gz = grid.z
    gsem = grid.semantic
    gidx = grid.point_idx
    count = 0
    for k in range(num_runs):
        for p in range(np.uint64(runs[k, 0]), np.uint64(runs[k, 1])):
            d2 = _squared_distance(gx, gy, gz, p, xc, yc, zc)
            keep = (d2 < r2) & ((gsem[p] == sc) == same_class)
            out_idx[count] = gidx[p]
            out_d2[count] = d2
            count += keep
    return count


@jit()
def _grid_geometry(
    coords: np.ndarray, ptr: np.ndarray, search: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per scene: grid origin (minimum corner), cell side, cells per axis, ``cell_start`` base.

    Cells start at the search radius and double until the grid has at most
    ``max(8 * points, 4096)`` cells, so a tiny radius in a large sparse scene stays cheap.
    Each scene owns ``cells + 1`` entries of ``cell_start`` (its own end sentinel).
    """
    num_scenes = ptr.shape[0] - 1
    slots = max(num_scenes, 1)
    origin = np.zeros((slots, 3), dtype=np.float64)
    cell = np.ones(slots, dtype=np.float64)
    dims = np.ones((slots, 3), dtype=np.int64)
    cell_base = np.zeros(num_scenes + 1, dtype=np.int64)
    lo = np.empty(3, dtype=np.float64)
    hi = np.empty(3, dtype=np.float64)
    for b in range(num_scenes):
        start = ptr[b]
        end = ptr[b + 1]
        cells = 0
        if end > start:
            for a in range(3):
                lo[a] = coords[start, a]
                hi[a] = coords[start, a]
            for i in range(start, end):
                for a in range(3):
                    v = np.float64(coords[i, a])
                    lo[a] = min(lo[a], v)
                    hi[a] = max(hi[a], v)
            budget = max(_CELLS_PER_POINT * (end - start), _MIN_CELL_BUDGET)
            side = search
            while True:
                cells = 1
                for a in range(3):
                    dims[b, a] = math.floor((hi[a] - lo[a]) / side) + 1
                    cells *= dims[b, a]
                if cells <= budget:
                    break
                side *= 2.0
            for a in range(3):
                origin[b, a] = lo[a]
            cell[b] = side
        cell_base[b + 1] = cell_base[b] + cells + 1
    return origin, cell, dims, cell_base


@jit()
def _fill_grid(
    grid: _Grid,
    b: int,
    heat: np.ndarray,
    coords: np.ndarray,
    semantic: np.ndarray,
    ptr: np.ndarray,
    pos_of: np.ndarray,
) -> None:
    """Counting-sort scene b's points into its cells (stable: ascending index per cell).

    ``pos_of[i - ptr[b]]`` receives the grid position of point i.
    """
    start = ptr[b]
    end = ptr[b + 1]
    m = end - start
    origin = grid.origin[b]
    dims = grid.dims[b]
    inv_cell = 1.0 / grid.cell[b]
    base = grid.cell_base[b]
    num_cells = grid.cell_base[b + 1] - base - 1
    # Local names for the tuple's arrays: attribute access inside a loop costs a reference
    # count update per iteration.
    cell_start = grid.cell_start
    gx = grid.x
    gy = grid.y
    gz = grid.z
    gheat = grid.heat
    gsem = grid.semantic
    gidx = grid.point_idx
    fill = np.zeros(num_cells, dtype=np.int64)
    point_cell = np.empty(m, dtype=np.int64)
    for i in range(m):
        ix = _cell_of(coords[start + i, 0], origin[0], inv_cell, dims[0])
        iy = _cell_of(coords[start + i, 1], origin[1], inv_cell, dims[1])
        iz = _cell_of(coords[start + i, 2], origin[2], inv_cell, dims[2])
        k = (ix * dims[1] + iy) * dims[2] + iz
        point_cell[i] = k
        fill[k] += 1
    running = start
    for k in range(num_cells):
        size = fill[k]
        cell_start[base + k] = running
        fill[k] = running
        running += size
    cell_start[base + num_cells] = end
    for i in range(m):
        p = fill[point_cell[i]]
        fill[point_cell[i]] = p + 1
        gx[p] = coords[start + i, 0]
        gy[p] = coords[start + i, 1]
        gz[p] = coords[start + i, 2]
        gheat[p] = heat[start + i]
        gsem[p] = semantic[start + i]
        gidx[p] = start + i
        pos_of[i] = p


@jit()
def _mine_scene(
    b: int,
    grid: _Grid,
    heat: np.ndarray,
    coords: np.ndarray,
    semantic: np.ndarray,
    ptr: np.ndarray,
    params: _Params,
    suppressed: np.ndarray,
    accepted: np.ndarray,
    num_accepted: np.ndarray,
) -> None:
    """Grid, visiting order and suppression loop of scene b; writes only scene b's slots.

    ``accepted[b, k]`` receives (point index, |F|, |G|) of the k-th candidate.
    """
    start = ptr[b]
    m = ptr[b + 1] - start
    if m == 0:
        return
    pos_of = np.empty(m, dtype=np.int64)
    _fill_grid(grid, b, heat, coords, semantic, ptr, pos_of)

    # Visiting order: eligible points by (-heat, index), one stable radix sort.
    heat_bits = heat.view(np.uint32)
    keys = np.empty(m, dtype=np.uint64)
    order = np.empty(m, dtype=np.int64)
    eligible = 0
    for i in range(m):
        if heat[start + i] >= params.threshold:
            keys[eligible] = _descending_heat_key(heat_bits[start + i])
            order[eligible] = i
            eligible += 1
    sort_pairs(
        keys,
        order,
        eligible,
        np.empty(eligible, dtype=np.uint64),
        np.empty(eligible, dtype=np.int64),
        np.empty(RADIX_COUNTS, dtype=np.int64),
    )

    runs = np.empty((_MAX_COLUMNS, 2), dtype=np.int64)
    k = 0
    for s in range(eligible):
        if k >= params.max_candidates:
            break
        local = order[s]
        if suppressed[pos_of[local]]:
            continue
        c = start + local
        num_runs = _query_runs(
            grid, b, coords[c, 0], coords[c, 1], coords[c, 2], params.search, runs
        )
        size, rejected = _visit(grid, runs, num_runs, c, coords, heat, semantic, params, suppressed)
        if rejected:
            continue
        num_runs = _query_runs(
            grid, b, coords[c, 0], coords[c, 1], coords[c, 2], 2.0 * params.search, runs
        )
        accepted[b, k, 0] = c
        accepted[b, k, 1] = size
        accepted[b, k, 2] = _count_other_class(
            grid, runs, num_runs, c, coords, semantic[c], params.r2_bg
        )
        k += 1
    num_accepted[b] = k


@jit()
def _write_sorted_subset(
    count: int,
    cap: int,
    scene_start: int,
    idx_buf: np.ndarray,
    d2_bits: np.ndarray,
    keys: np.ndarray,
    vals: np.ndarray,
    keys_tmp: np.ndarray,
    vals_tmp: np.ndarray,
    counts: np.ndarray,
    out: np.ndarray,
    out_start: int,
) -> None:
    """Keep the ``cap`` smallest (d2, index) of a gathered set; write them by ascending index.

    Non-negative float32 bits order like the floats, so ``d2_bits << 32 | local index`` sorts
    by (d2, index).
    """
    if count > cap:
        for i in range(count):
            local = np.uint64(idx_buf[i] - scene_start)
            keys[i] = (np.uint64(d2_bits[i]) << np.uint64(32)) | local
            vals[i] = idx_buf[i]
        sort_pairs(keys, vals, count, keys_tmp, vals_tmp, counts)
        count = cap
        for i in range(count):
            keys[i] = np.uint64(vals[i] - scene_start)
    else:
        for i in range(count):
            keys[i] = np.uint64(idx_buf[i] - scene_start)
            vals[i] = idx_buf[i]
    sort_pairs(keys, vals, count, keys_tmp, vals_tmp, counts)
    for i in range(count):
        out[out_start + i] = vals[i]


@jit()
def _gather_lists(
    first: int,
    stop: int,
    grid: _Grid,
    coords: np.ndarray,
    semantic: np.ndarray,
    ptr: np.ndarray,
    params: _Params,
    candidate_idx: np.ndarray,
    cand_scene: np.ndarray,
    largest: int,
    fg_ptr: np.ndarray,
    fg_idx: np.ndarray,
    bg_ptr: np.ndarray,
    bg_idx: np.ndarray,
) -> None:
    """Write the capped, index-sorted fg/bg lists of candidates ``first..stop-1``."""
    runs = np.empty((_MAX_COLUMNS, 2), dtype=np.int64)
    idx_buf = np.empty(largest + 1, dtype=np.int64)
    d2_buf = np.empty(largest + 1, dtype=np.float32)
    d2_bits = d2_buf.view(np.uint32)
    keys = np.empty(largest, dtype=np.uint64)
    vals = np.empty(largest, dtype=np.int64)
    keys_tmp = np.empty(largest, dtype=np.uint64)
    vals_tmp = np.empty(largest, dtype=np.int64)
    counts = np.empty(RADIX_COUNTS, dtype=np.int64)
    cap = params.max_neighbors
    for j in range(first, stop):
        b = cand_scene[j]
        c = candidate_idx[j]
        x, y, z = coords[c, 0], coords[c, 1], coords[c, 2]
        num_runs = _query_runs(grid, b, x, y, z, params.search, runs)
        count = _gather(
            grid, runs, num_runs, c, coords, semantic[c], params.r2, True, idx_buf, d2_buf
        )
        _write_sorted_subset(
            count, cap, ptr[b], idx_buf, d2_bits, keys, vals, keys_tmp, vals_tmp, counts,
            fg_idx, fg_ptr[j],
        )  # fmt: skip
        num_runs = _query_runs(grid, b, x, y, z, 2.0 * params.search, runs)
        count = _gather(
            grid, runs, num_runs, c, coords, semantic[c], params.r2_bg, False, idx_buf, d2_buf
        )
        _write_sorted_subset(
            count, cap, ptr[b], idx_buf, d2_bits, keys, vals, keys_tmp, vals_tmp, counts,
            bg_idx, bg_ptr[j],
        )  # fmt: skip


@dynamic_schedule
@jit(parallel=True)
def mine_candidates(
    heat: np.ndarray,
    coords: np.ndarray,
    semantic: np.ndarray,
    ptr: np.ndarray,
    radius: float,
    local_ratio: float,
    max_candidates: int,
    max_neighbors: int,
    score_threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mine instance candidates scene by scene (see ``dknet.ops.mine_candidates``).

    Args:
        heat: (N,) float32 heat of the (foreground) points.
        coords: (N, 3) float32 metric coordinates, C-contiguous.
        semantic: (N,) int64 predicted classes.
        ptr: (B+1,) int64 scene boundaries (validated by the caller).
        radius: suppression radius R in metres (> 0), used as float32.
        local_ratio: local-normalisation ratio Q, used as float32.
        max_candidates: at most this many candidates per scene (>= 1).
        max_neighbors: cap of each foreground/background list (>= 1).
        score_threshold: points with heat below it are never visited, used as float32.

    Returns:
        ``(candidate_idx, candidate_ptr, sizes, fg_ptr, fg_idx, bg_ptr, bg_idx)``, all int64:
        (K,), (B+1,), (K,), (K+1,), (sum,), (K+1,), (sum,); indices are global.
    """
    n = heat.shape[0]
    num_scenes = ptr.shape[0] - 1
    r = np.float32(radius)
    r2 = r * r
    search = np.float64(r) * _SEARCH_MARGIN
    params = _Params(
        r2,
        np.float32(4.0) * r2,
        np.float32(local_ratio),
        np.float32(score_threshold),
        search,
        max_candidates,
        max_neighbors,
    )
    origin, cell, dims, cell_base = _grid_geometry(coords, ptr, search)
    grid = _Grid(
        origin,
        cell,
        dims,
        cell_base,
        np.empty(cell_base[num_scenes], dtype=np.int64),
        np.empty(n, dtype=np.float32),
        np.empty(n, dtype=np.float32),
        np.empty(n, dtype=np.float32),
        np.empty(n, dtype=np.float32),
        np.empty(n, dtype=np.int64),
        np.empty(n, dtype=np.int64),
    )
    max_scene = 0
    for b in range(num_scenes):
        max_scene = max(max_scene, ptr[b + 1] - ptr[b])
    slots = max(num_scenes, 1)
    per_scene = max(min(max_candidates, max_scene), 1)
    accepted = np.empty((slots, per_scene, 3), dtype=np.int64)
    num_accepted = np.zeros(slots, dtype=np.int64)
    suppressed = np.zeros(n, dtype=np.uint8)
    if num_scenes == 1:
        _mine_scene(
            0, grid, heat, coords, semantic, ptr, params, suppressed, accepted, num_accepted
        )
    else:
        for b in numba.prange(num_scenes):
            _mine_scene(
                b, grid, heat, coords, semantic, ptr, params, suppressed, accepted, num_accepted
            )

    candidate_ptr = np.zeros(num_scenes + 1, dtype=np.int64)
    for b in range(num_scenes):
        candidate_ptr[b + 1] = candidate_ptr[b] + num_accepted[b]
    num_cand = candidate_ptr[num_scenes]
    candidate_idx = np.empty(num_cand, dtype=np.int64)
    sizes = np.empty(num_cand, dtype=np.int64)
    cand_scene = np.empty(num_cand, dtype=np.int64)
    fg_ptr = np.zeros(num_cand + 1, dtype=np.int64)
    bg_ptr = np.zeros(num_cand + 1, dtype=np.int64)
    largest = 0
    for b in range(num_scenes):
        for k in range(num_accepted[b]):
            j = candidate_ptr[b] + k
            candidate_idx[j] = accepted[b, k, 0]
            sizes[j] = accepted[b, k, 1]
            cand_scene[j] = b
            fg_ptr[j + 1] = fg_ptr[j] + min(accepted[b, k, 1], max_neighbors)
            bg_ptr[j + 1] = bg_ptr[j] + min(accepted[b, k, 2], max_neighbors)
            largest = max(largest, max(accepted[b, k, 1], accepted[b, k, 2]))
    fg_idx = np.empty(fg_ptr[num_cand], dtype=np.int64)
    bg_idx = np.empty(bg_ptr[num_cand], dtype=np.int64)

    lists = (candidate_idx, cand_scene, largest, fg_ptr, fg_idx, bg_ptr, bg_idx)
    if num_scenes == 1:
        _gather_lists(0, num_cand, grid, coords, semantic, ptr, params, *lists)
    else:
        num_chunks = min(num_cand, _GATHER_CHUNKS)
        for chunk in numba.prange(num_chunks):
            _gather_lists(
                chunk * num_cand // num_chunks,
                (chunk + 1) * num_cand // num_chunks,
                grid, coords, semantic, ptr, params, *lists,
            )  # fmt: skip
    return candidate_idx, candidate_ptr, sizes, fg_ptr, fg_idx, bg_ptr, bg_idx
