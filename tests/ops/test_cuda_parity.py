"""Parity of the CUDA extension with the Numba backend, through the public ``dknet.ops`` API.

Every case runs twice: on CUDA tensors with ``DKNET_OPS_BACKEND=ext`` (the compiled kernels) and
on CPU tensors with ``DKNET_OPS_BACKEND=numba``. Integer outputs must be equal bit for bit, Otsu
thresholds too (both backends do the same integer counts and IEEE float64 operations), pooled
voxel features within float32 rounding (CUDA's ``index_add_`` sums with atomics). The kernels
must also be deterministic: two CUDA runs give identical outputs.

Skipped without a CUDA device or without a usable extension (``dknet doctor`` says why).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from dknet.ops import _backend, merge_candidates, mine_candidates, otsu_thresholds, voxelize

pytestmark = [pytest.mark.cuda, pytest.mark.ext]


@pytest.fixture(autouse=True)
def require_extension() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    status = _backend.extension_status()
    if not status.available:
        pytest.skip(f"the CUDA extension is unavailable ({status.kind}): {status.message}")


def to_cuda(value: Any) -> Any:
    return value.to(torch.device("cuda")) if isinstance(value, torch.Tensor) else value


def run_both(
    monkeypatch: pytest.MonkeyPatch, op: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[Any, Any]:
    """(CUDA extension result, Numba result) of ``op(*args, **kwargs)``."""
    monkeypatch.setenv(_backend.ENV_VAR, "ext")
    on_cuda = op(*[to_cuda(a) for a in args], **kwargs)
    torch.cuda.synchronize()
    monkeypatch.setenv(_backend.ENV_VAR, "numba")
    on_cpu = op(*args, **kwargs)
    return on_cuda, on_cpu


def fields(result: Any) -> dict[str, torch.Tensor | None]:
    if isinstance(result, torch.Tensor):
        return {"value": result}
    return {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}


def assert_identical(on_cuda: Any, on_cpu: Any, *, skip: tuple[str, ...] = ()) -> None:
    """Same fields, dtypes, shapes and values; CUDA outputs stay on the CUDA device."""
    for name, expected in fields(on_cpu).items():
        if name in skip:
            continue
        got = fields(on_cuda)[name]
        if expected is None:
            assert got is None, name
            continue
        assert got is not None, name
        assert got.device.type == "cuda", name
        assert got.dtype == expected.dtype, name
        assert tuple(got.shape) == tuple(expected.shape), name
        assert torch.equal(got.cpu(), expected), name


def assert_deterministic(op: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    cuda_args = [to_cuda(a) for a in args]
    first = fields(op(*cuda_args, **kwargs))
    second = fields(op(*cuda_args, **kwargs))
    for name, value in first.items():
        other = second[name]
        if value is None:
            assert other is None
        else:
            assert other is not None and torch.equal(value, other), name


# --- synthetic inputs --------------------------------------------------------------------------


def packed_ptr(sizes: list[int]) -> torch.Tensor:
    return torch.tensor([0, *np.cumsum(sizes).tolist()], dtype=torch.int64)


def blob_scene(
    rng: np.random.Generator, sizes: list[int], *, instances: int = 12, classes: int = 4
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(heat, coords, semantic, ptr): Gaussian blobs in a 6 x 6 x 3 m room per scene, heat
    peaked at blob centres (softmax-normalised per scene, like the model's heat)."""
    heats, points, labels = [], [], []
    for size in sizes:
        centres = rng.uniform([0, 0, 0], [6, 6, 3], (instances, 3))
        owner = rng.integers(0, instances, size)
        xyz = centres[owner] + rng.normal(0, 0.25, (size, 3))
        d2 = np.sum((xyz - centres[owner]) ** 2, axis=1)
        logits = 8.0 * np.exp(-d2 / 0.05)
        heat = np.exp(logits - logits.max()) if size else logits
        heats.append((heat / heat.sum()) if size else heat)
        points.append(xyz)
        labels.append(rng.integers(0, classes, instances)[owner])
    return (
        torch.from_numpy(np.concatenate(heats).astype(np.float32)),
        torch.from_numpy(np.concatenate(points).astype(np.float32)),
        torch.from_numpy(np.concatenate(labels).astype(np.int64)),
        packed_ptr(sizes),
    )


def grid_scene(
    rng: np.random.Generator, sizes: list[int], *, step: float, heat_levels: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points on a coarse lattice (many equal distances) with a few heat levels (many ties)."""
    total = int(sum(sizes))
    coords = np.round(rng.uniform(-1.0, 1.0, (total, 3)) / step) * step
    heat = rng.integers(1, heat_levels + 1, total) / heat_levels
    semantic = rng.integers(0, 3, total)
    return (
        torch.from_numpy(heat.astype(np.float32)),
        torch.from_numpy(coords.astype(np.float32)),
        torch.from_numpy(semantic.astype(np.int64)),
        packed_ptr(sizes),
    )


# --- voxelize ----------------------------------------------------------------------------------

VOXELIZE_CASES = {
    "empty-no-scene": ([], 0.02, None),
    "empty-scene": ([0], 0.02, None),
    "single-point": ([1], 0.02, None),
    "one-voxel": ([50], 10.0, None),
    "multi-scene-empty-middle": ([300, 0, 500], 0.05, None),
    "on-voxel-edges": ([400], 0.25, 0.25),
    "lattice-duplicates": ([700, 300], 0.1, 0.05),
    "scannet-like": ([20000, 15000], 0.02, None),
}


@pytest.mark.parametrize("case", sorted(VOXELIZE_CASES))
def test_voxelize_parity(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    sizes, voxel_size, lattice = VOXELIZE_CASES[case]
    rng = np.random.default_rng(7)
    total = int(sum(sizes))
    xyz = rng.uniform(-3.0, 5.0, (total, 3))
    if lattice is not None:
        xyz = np.round(xyz / lattice) * lattice
    coords = torch.from_numpy(xyz.astype(np.float32))
    features = torch.from_numpy(rng.normal(size=(total, 6)).astype(np.float32))
    ptr = packed_ptr(sizes) if sizes else torch.zeros(1, dtype=torch.int64)
    on_cuda, on_cpu = run_both(
        monkeypatch, voxelize, coords, ptr, voxel_size=voxel_size, features=features
    )
    assert_identical(on_cuda, on_cpu, skip=("features",))
    torch.testing.assert_close(on_cuda.features.cpu(), on_cpu.features, rtol=1e-5, atol=1e-6)


def test_voxelize_parity_with_extents_too_wide_for_one_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three axes of ~2^22 voxels plus a scene field need more than 64 key bits: the CUDA
    kernel switches to two stable sort passes and must still agree."""
    rng = np.random.default_rng(3)
    xyz = rng.uniform(-2000.0, 2000.0, (5000, 3))
    xyz[:10] = xyz[10:20]  # a few shared voxels
    coords = torch.from_numpy(xyz.astype(np.float32))
    on_cuda, on_cpu = run_both(
        monkeypatch, voxelize, coords, packed_ptr([2500, 2500]), voxel_size=1e-3
    )
    assert_identical(on_cuda, on_cpu)


# --- mine_candidates ---------------------------------------------------------------------------


def test_mine_candidates_empty_and_single(monkeypatch: pytest.MonkeyPatch) -> None:
    empty = (
        torch.zeros(0),
        torch.zeros(0, 3),
        torch.zeros(0, dtype=torch.int64),
        torch.zeros(3, dtype=torch.int64),
    )
    assert_identical(*run_both(monkeypatch, mine_candidates, *empty))
    single = (
        torch.tensor([0.7]),
        torch.tensor([[0.1, 0.2, 0.3]]),
        torch.tensor([2]),
        torch.tensor([0, 0, 1]),
    )
    on_cuda, on_cpu = run_both(monkeypatch, mine_candidates, *single)
    assert_identical(on_cuda, on_cpu)
    assert on_cuda.candidate_idx.tolist() == [0]


MINE_CASES: dict[str, dict[str, Any]] = {
    "blobs-default": dict(sizes=[6000, 0, 4000], kind="blobs", params={}),
    "blobs-cap-overflow": dict(
        sizes=[5000, 3000], kind="blobs", params=dict(max_neighbors=40, radius=0.4)
    ),
    "blobs-few-candidates": dict(sizes=[5000], kind="blobs", params=dict(max_candidates=3)),
    "blobs-threshold": dict(
        sizes=[4000, 4000], kind="blobs", params=dict(score_threshold=1e-4, local_ratio=0.9)
    ),
    "lattice-ties": dict(sizes=[800, 700], kind="lattice", params=dict(radius=0.3)),
    "lattice-ties-cap": dict(
        sizes=[900, 0, 600], kind="lattice", params=dict(radius=0.5, max_neighbors=7)
    ),
    "lattice-cap-one": dict(sizes=[500], kind="lattice", params=dict(max_neighbors=1)),
    "equal-heat-everywhere": dict(sizes=[600, 600], kind="flat", params=dict(radius=0.2)),
}


@pytest.mark.parametrize("case", sorted(MINE_CASES))
def test_mine_candidates_parity(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    spec = MINE_CASES[case]
    rng = np.random.default_rng(11)
    if spec["kind"] == "blobs":
        inputs = blob_scene(rng, spec["sizes"])
    else:
        levels = 1 if spec["kind"] == "flat" else 4
        inputs = grid_scene(rng, spec["sizes"], step=0.1, heat_levels=levels)
    on_cuda, on_cpu = run_both(monkeypatch, mine_candidates, *inputs, **spec["params"])
    assert_identical(on_cuda, on_cpu)
    assert on_cpu.candidate_idx.numel() > 0


def test_mine_candidates_is_deterministic() -> None:
    inputs = blob_scene(np.random.default_rng(5), [8000, 6000])
    assert_deterministic(mine_candidates, *inputs, max_neighbors=50)


# --- merge_candidates --------------------------------------------------------------------------


def merge_inputs(
    rng: np.random.Generator, sizes: list[int], *, levels: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    k = int(sum(sizes))
    scores = rng.uniform(0.0, 1.0, (k, k))
    if levels:
        scores = np.round(scores * levels) / levels  # many scores exactly at the threshold
    scores = np.where(rng.uniform(size=(k, k)) < 0.97, scores * 0.5, scores)  # sparse links
    heat = rng.integers(0, 5, k) / 4.0  # heat ties inside groups
    return (
        torch.from_numpy(scores.astype(np.float32)),
        torch.from_numpy(heat.astype(np.float32)),
        packed_ptr(sizes) if sizes else torch.zeros(1, dtype=torch.int64),
    )


MERGE_CASES = {
    "no-candidate": ([], 0),
    "no-candidate-three-scenes": ([0, 0, 0], 0),
    "single": ([1], 0),
    "multi-scene-empty-middle": ([40, 0, 60], 0),
    "ties-at-threshold": ([50, 50], 4),
    "large": ([150, 150, 150, 150], 0),
}


@pytest.mark.parametrize("case", sorted(MERGE_CASES))
def test_merge_candidates_parity(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    sizes, levels = MERGE_CASES[case]
    inputs = merge_inputs(np.random.default_rng(13), sizes, levels=levels)
    assert_identical(*run_both(monkeypatch, merge_candidates, *inputs, threshold=0.5))


def test_merge_candidates_chain_and_asymmetry(monkeypatch: pytest.MonkeyPatch) -> None:
    k = 64
    scores = torch.zeros(k, k)
    idx = torch.arange(k - 1)
    scores[idx, idx + 1] = 0.9  # one long chain, linked one way only
    scores[5, 40] = 0.5  # exactly the threshold: no link
    scores[63, 0] = 0.51  # closes the loop from the other side
    heat = torch.full((k,), 0.25)
    on_cuda, on_cpu = run_both(
        monkeypatch, merge_candidates, scores, heat, torch.tensor([0, k]), threshold=0.5
    )
    assert_identical(on_cuda, on_cpu)
    assert on_cuda.centers.tolist() == [0]


def test_merge_candidates_is_deterministic() -> None:
    inputs = merge_inputs(np.random.default_rng(17), [200, 200])
    assert_deterministic(merge_candidates, *inputs, threshold=0.45)


# --- otsu_thresholds ---------------------------------------------------------------------------


def otsu_rows(rng: np.random.Generator, rows: int, cols: int, num_bins: int) -> torch.Tensor:
    masks = rng.uniform(0.0, 1.0, (rows, cols)).astype(np.float32)
    if rows == 0 or cols == 0:
        return torch.from_numpy(masks)
    masks[::4] = np.round(masks[::4] * num_bins) / num_bins  # values on bin edges
    masks[1::4, : cols // 3] = 1.0  # the last bin, fixed by dknet
    masks[2::4] = 0.3  # constant rows: no split
    special = np.array([np.nan, -0.5, 1.5, np.inf, -0.0, 1.0, 0.0], dtype=np.float32)
    masks[3::4, : len(special)] = special[: min(len(special), cols)]
    return torch.from_numpy(masks)


OTSU_CASES = {
    "no-row": (0, 100, 100),
    "no-column": (3, 0, 100),
    "two-bins": (8, 500, 2),
    "default-bins": (24, 5000, 100),
    "scannet-like": (60, 150000, 100),
    "many-bins-global-histogram": (6, 20000, 10000),
}


@pytest.mark.parametrize("case", sorted(OTSU_CASES))
def test_otsu_thresholds_parity(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    rows, cols, num_bins = OTSU_CASES[case]
    masks = otsu_rows(np.random.default_rng(19), rows, cols, num_bins)
    on_cuda, on_cpu = run_both(monkeypatch, otsu_thresholds, masks, num_bins=num_bins)
    assert_identical(on_cuda, on_cpu)


def test_otsu_thresholds_is_deterministic() -> None:
    masks = otsu_rows(np.random.default_rng(23), 40, 100000, 100)
    assert_deterministic(otsu_thresholds, masks, num_bins=100)


def test_voxelize_is_deterministic() -> None:
    rng = np.random.default_rng(29)
    coords = torch.from_numpy(rng.uniform(-4, 4, (60000, 3)).astype(np.float32))
    assert_deterministic(voxelize, coords, packed_ptr([30000, 30000]), voxel_size=0.02)


# --- edge cases found in review ----------------------------------------------------------------


def test_mine_candidates_degenerate_geometry_and_ties(monkeypatch: pytest.MonkeyPatch) -> None:
    """All points of a scene at one location (every d2 = 0: the cap falls back to the index
    rule and the x slab is the whole scene), signed zeros in coordinates and heat (-0.0 ties
    with +0.0, then the smaller index wins), a single-point scene and an empty scene."""
    coords = torch.zeros(40, 3)
    coords[20:] = torch.tensor([-0.0, 0.0, -0.0])
    coords[30:39] = torch.tensor([0.05, -0.0, 0.02])
    heat = torch.full((40,), 0.5)
    heat[::3] = -0.0
    heat[1::3] = 0.0
    semantic = torch.tensor([0, 1] * 20)
    ptr = torch.tensor([0, 20, 20, 39, 40])
    for params in (
        dict(max_neighbors=3),
        dict(max_neighbors=1000, local_ratio=0.0),
        dict(max_candidates=1, score_threshold=-1.0),
    ):
        on_cuda, on_cpu = run_both(
            monkeypatch, mine_candidates, heat, coords, semantic, ptr, **params
        )
        assert_identical(on_cuda, on_cpu)


def test_mine_candidates_nothing_eligible(monkeypatch: pytest.MonkeyPatch) -> None:
    """score_threshold above every heat: K = 0 with B > 0 scenes (empty CSR outputs)."""
    inputs = blob_scene(np.random.default_rng(31), [300, 0, 200])
    on_cuda, on_cpu = run_both(monkeypatch, mine_candidates, *inputs, score_threshold=2.0)
    assert_identical(on_cuda, on_cpu)
    assert on_cuda.candidate_idx.numel() == 0
    assert on_cuda.candidate_ptr.tolist() == [0, 0, 0, 0]


def test_mine_candidates_many_small_scenes(monkeypatch: pytest.MonkeyPatch) -> None:
    """More scenes than the search kernel's grid (4096 blocks): blocks loop over scenes."""
    sizes = [1, 0, 3] * 1500
    inputs = grid_scene(np.random.default_rng(37), sizes, step=0.2, heat_levels=2)
    on_cuda, on_cpu = run_both(monkeypatch, mine_candidates, *inputs, max_neighbors=2)
    assert_identical(on_cuda, on_cpu)


def test_merge_candidates_signed_zero_heat(monkeypatch: pytest.MonkeyPatch) -> None:
    """Centre ties between -0.0 and +0.0 heat go to the smaller index on both backends."""
    scores = torch.ones(6, 6)
    heat = torch.tensor([-0.0, 0.0, -0.0, 0.0, -1.0, -0.0])
    on_cuda, on_cpu = run_both(
        monkeypatch, merge_candidates, scores, heat, torch.tensor([0, 2, 6]), threshold=0.5
    )
    assert_identical(on_cuda, on_cpu)
    assert on_cuda.centers.tolist() == [0, 2]


def test_voxelize_signed_zero_and_negative_coords(monkeypatch: pytest.MonkeyPatch) -> None:
    """-0.0 and +0.0 share a voxel; negative coordinates floor towards -inf."""
    coords = torch.tensor(
        [
            [-0.0, 0.0, -0.0],
            [0.0, -0.0, 0.0],
            [-0.01, -0.02, 0.0],
            [-0.1, 0.1, -0.1],
            [5.0, 5.0, 5.0],
        ]
    )
    on_cuda, on_cpu = run_both(
        monkeypatch, voxelize, coords, torch.tensor([0, 3, 3, 5]), voxel_size=0.1
    )
    assert_identical(on_cuda, on_cpu)


def test_otsu_single_value_rows_and_last_bin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of one value, rows split only between the first and the last bin, N = 1."""
    masks = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.999999, 0.0]])
    on_cuda, on_cpu = run_both(monkeypatch, otsu_thresholds, masks, num_bins=100)
    assert_identical(on_cuda, on_cpu)
    single = torch.tensor([[0.4], [1.0]])
    assert_identical(*run_both(monkeypatch, otsu_thresholds, single, num_bins=7))
