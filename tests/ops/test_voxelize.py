"""Tests of ``dknet.ops.voxelize`` against a naive per-point reference."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from dknet.errors import ConfigError, InvalidPointCloudError
from dknet.ops import Voxels, voxelize

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def reference_voxelize(
    coords: np.ndarray, ptr: np.ndarray, voxel_size: float
) -> dict[str, np.ndarray]:
    """Dictionary-based voxelisation, one point at a time, in the contract's float32 maths."""
    voxel_rows: list[tuple[int, int, int, int]] = []
    members: list[list[int]] = []
    voxel_ptr = [0]
    size = np.float32(voxel_size)
    for b in range(len(ptr) - 1):
        start, end = int(ptr[b]), int(ptr[b + 1])
        if end > start:
            grid = np.floor(coords[start:end].astype(np.float32) / size).astype(np.int64)
            grid -= grid.min(axis=0)
            by_voxel: dict[tuple[int, int, int], list[int]] = {}
            for i in range(start, end):
                key = tuple(int(v) for v in grid[i - start])
                by_voxel.setdefault(key, []).append(i)
            for key in sorted(by_voxel):
                voxel_rows.append((b, *key))
                members.append(by_voxel[key])
        voxel_ptr.append(len(voxel_rows))
    n = coords.shape[0]
    point_to_voxel = np.full(n, -1, dtype=np.int64)
    for v, pts in enumerate(members):
        point_to_voxel[pts] = v
    return {
        "voxel_coords": np.array(voxel_rows, dtype=np.int32).reshape(-1, 4),
        "point_to_voxel": point_to_voxel,
        "voxel_to_point_ptr": np.cumsum([0] + [len(m) for m in members]).astype(np.int64),
        "voxel_to_point_idx": np.array([i for m in members for i in m], dtype=np.int64),
        "voxel_ptr": np.array(voxel_ptr, dtype=np.int64),
    }


@dataclass(frozen=True)
class Case:
    name: str
    coords: np.ndarray
    ptr: np.ndarray
    voxel_size: float


def _cases() -> list[Case]:
    rng = np.random.default_rng(7)
    room = (rng.random((600, 3)) * np.array([3.0, 2.0, 1.0]) - 1.0).astype(np.float32)
    # Exact multiples of the voxel size sit on voxel boundaries (float32-exact values).
    edges = (np.arange(-8, 8, dtype=np.float32) * np.float32(0.25))[:, None].repeat(3, axis=1)
    dup = np.repeat(rng.random((20, 3)).astype(np.float32), 5, axis=0)
    # > 2^21 voxels per axis: the packed 63-bit key does not fit, three stable passes are used.
    huge = np.floor(rng.random((400, 3)) * 4e6).astype(np.float32)
    return [
        Case("empty", np.zeros((0, 3), np.float32), np.array([0, 0]), 0.1),
        Case("no_scene", np.zeros((0, 3), np.float32), np.array([0]), 0.1),
        Case("single_point", np.array([[0.3, -0.2, 5.0]], np.float32), np.array([0, 1]), 0.02),
        Case("one_scene", room, np.array([0, 600]), 0.1),
        Case("fine", room[:300], np.array([0, 300]), 0.02),
        Case("all_one_voxel", room[:50], np.array([0, 50]), 100.0),
        Case("bin_edges", edges, np.array([0, 16]), 0.25),
        Case("duplicates", dup, np.array([0, 100]), 0.05),
        Case("huge_extent", np.concatenate([huge, huge[:50]]), np.array([0, 450]), 1.0),
        Case("empty_between", room, np.array([0, 200, 200, 450, 600]), 0.2),
        Case("empty_ends", room[:100], np.array([0, 0, 100, 100]), 0.1),
    ]


CASES = _cases()


def _run(case: Case, device: str, monkeypatch: pytest.MonkeyPatch) -> Voxels:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    cpu = voxelize(
        torch.from_numpy(case.coords), torch.from_numpy(case.ptr), voxel_size=case.voxel_size
    )
    if device == "cpu":
        return cpu
    monkeypatch.setenv("DKNET_OPS_BACKEND", "ext")
    gpu = voxelize(
        torch.from_numpy(case.coords).to(device),
        torch.from_numpy(case.ptr).to(device),
        voxel_size=case.voxel_size,
    )
    for field in (
        "voxel_coords",
        "point_to_voxel",
        "voxel_to_point_ptr",
        "voxel_to_point_idx",
        "voxel_ptr",
    ):
        assert getattr(gpu, field).device.type == "cuda"
        assert torch.equal(getattr(gpu, field).cpu(), getattr(cpu, field)), field
    return gpu


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_reference(case: Case, device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    got = _run(case, device, monkeypatch)
    want = reference_voxelize(case.coords, case.ptr, case.voxel_size)
    for field, expected in want.items():
        value = getattr(got, field).cpu()
        assert value.dtype == (torch.int32 if field == "voxel_coords" else torch.int64), field
        np.testing.assert_array_equal(value.numpy(), expected, err_msg=field)
    assert got.features is None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_inverse_maps_are_consistent(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    got = _run(case, "cpu", monkeypatch)
    n = case.coords.shape[0]
    p2v = got.point_to_voxel.numpy()
    vptr = got.voxel_to_point_ptr.numpy()
    vidx = got.voxel_to_point_idx.numpy()
    assert sorted(vidx.tolist()) == list(range(n))
    for v in range(got.num_voxels):
        pts = vidx[vptr[v] : vptr[v + 1]]
        assert len(pts) > 0 and np.all(np.diff(pts) > 0)
        assert np.all(p2v[pts] == v)
    scene_of_point = np.repeat(np.arange(len(case.ptr) - 1), np.diff(case.ptr))
    np.testing.assert_array_equal(got.voxel_coords[:, 0].numpy()[p2v], scene_of_point)
    vp = got.voxel_ptr.numpy()
    for b in range(len(case.ptr) - 1):
        rows = got.voxel_coords[vp[b] : vp[b + 1]].numpy()
        assert np.all(rows[:, 0] == b)
        if len(rows):
            assert rows[:, 1:].min(axis=0).tolist() == [0, 0, 0]


@pytest.mark.parametrize("device", DEVICES)
def test_features_are_means(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[8]
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba" if device == "cpu" else "ext")
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(case.coords.shape[0], 4))
    got = voxelize(
        torch.from_numpy(case.coords).to(device),
        torch.from_numpy(case.ptr).to(device),
        voxel_size=case.voxel_size,
        features=torch.from_numpy(feats).to(device),
    )
    assert got.features is not None and got.features.dtype == torch.float64
    p2v = got.point_to_voxel.cpu().numpy()
    expected = np.stack([feats[p2v == v].mean(axis=0) for v in range(got.num_voxels)])
    np.testing.assert_allclose(got.features.cpu().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_feature_pooling_gradcheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    coords = torch.tensor(
        [[0.0, 0.0, 0.0], [0.05, 0.0, 0.0], [0.5, 0.5, 0.5], [0.52, 0.5, 0.5], [0.0, 0.0, 0.0]]
    )
    ptr = torch.tensor([0, 3, 5])
    feats = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)

    def pooled(f: torch.Tensor) -> torch.Tensor:
        out = voxelize(coords, ptr, voxel_size=0.1, features=f).features
        assert out is not None
        return out

    assert torch.autograd.gradcheck(pooled, (feats,))


def test_empty_cloud_with_features(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    got = voxelize(
        torch.zeros(0, 3), torch.tensor([0, 0, 0]), voxel_size=0.02, features=torch.zeros(0, 6)
    )
    assert got.num_voxels == 0
    assert got.voxel_coords.shape == (0, 4)
    assert got.voxel_ptr.tolist() == [0, 0, 0]
    assert got.voxel_to_point_ptr.tolist() == [0]
    assert got.features is not None and got.features.shape == (0, 6)


def test_inputs_are_not_modified_and_dtypes_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    coords = torch.from_numpy(CASES[3].coords.astype(np.float64))
    ptr = torch.tensor([0, 600], dtype=torch.int32)
    before = coords.clone()
    got = voxelize(coords, ptr, voxel_size=0.1)
    assert torch.equal(coords, before)
    want = reference_voxelize(CASES[3].coords, CASES[3].ptr, 0.1)
    np.testing.assert_array_equal(got.voxel_coords.numpy(), want["voxel_coords"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"coords": torch.zeros(4, 2)}, ValueError, r"shape \(\*, 3\)"),
        ({"coords": torch.zeros(4, 3, dtype=torch.int64)}, ValueError, "floating-point"),
        ({"ptr": torch.tensor([0, 5])}, ValueError, r"ptr\[-1\] must equal 4"),
        ({"ptr": torch.tensor([1, 4])}, ValueError, r"ptr\[0\] must be 0"),
        ({"ptr": torch.tensor([0, 3, 2, 4])}, ValueError, "non-decreasing"),
        ({"ptr": torch.tensor([0.0, 4.0])}, ValueError, "integer"),
        ({"voxel_size": 0.0}, ConfigError, "> 0"),
        ({"voxel_size": float("nan")}, ConfigError, "finite"),
        ({"features": torch.zeros(3, 2)}, ValueError, "features"),
        (
            {"coords": torch.tensor([[0.0, 0, 0], [1, 1, 1], [2, 2, 2], [float("nan"), 0, 0]])},
            InvalidPointCloudError,
            "NaN",
        ),
        (
            {"coords": torch.tensor([[0.0, 0, 0], [1, 1, 1], [2, 2, 2], [1e9, 0, 0]])},
            ValueError,
            "larger voxel_size",
        ),
    ],
)
def test_rejects_bad_inputs(kwargs: dict, error: type, match: str) -> None:
    args = {"coords": torch.zeros(4, 3), "ptr": torch.tensor([0, 4]), "voxel_size": 0.1}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        voxelize(args.pop("coords"), args.pop("ptr"), **args)


def test_import_loads_neither_numba_nor_extension() -> None:
    code = (
        "import sys, dknet.ops; "
        "bad = [m for m in ('numba', 'dknet._ext', 'dknet.ops._numba') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("n", [0, 1, 5, 32, 33, 1000, 5000])
@pytest.mark.parametrize("high", [1, 3, 2**11, 2**40, 2**64 - 1])
def test_radix_sort_is_stable(n: int, high: int) -> None:
    from dknet.ops._numba._sort import RADIX_COUNTS, sort_pairs

    rng = np.random.default_rng(n + high % 1000)
    keys = rng.integers(0, high, n, dtype=np.uint64, endpoint=True)
    vals = np.arange(n, dtype=np.int64)
    work = keys.copy()
    sort_pairs(
        work,
        vals,
        n,
        np.empty(n, np.uint64),
        np.empty(n, np.int64),
        np.empty(RADIX_COUNTS, np.int64),
    )
    order = np.argsort(keys, kind="stable")
    np.testing.assert_array_equal(vals, order)
    np.testing.assert_array_equal(work, keys[order])
