"""Tests of ``dknet.ops.mine_candidates`` against a brute-force LN-NMS reference."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from dknet.errors import ConfigError, InvalidPointCloudError
from dknet.ops import Candidates, mine_candidates

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
FIELDS = ("candidate_idx", "candidate_ptr", "sizes", "fg_ptr", "fg_idx", "bg_ptr", "bg_idx")


def reference_mine(
    heat: np.ndarray,
    coords: np.ndarray,
    semantic: np.ndarray,
    ptr: np.ndarray,
    *,
    radius: float = 0.3,
    local_ratio: float = 0.5,
    max_candidates: int = 150,
    max_neighbors: int = 2000,
    score_threshold: float = 0.0,
) -> dict[str, np.ndarray]:
    """LN-NMS written the slow way: a Python loop over visits, brute-force float32 distances."""
    r = np.float32(radius)
    r2 = r * r
    r2_bg = np.float32(4.0) * r2
    ratio = np.float32(local_ratio)
    threshold = np.float32(score_threshold)
    heat = heat.astype(np.float32)
    xyz = coords.astype(np.float32)

    def capped(members: np.ndarray, d2: np.ndarray) -> list[int]:
        chosen = sorted(members.tolist(), key=lambda j: (float(d2[j]), j))[:max_neighbors]
        return sorted(chosen)

    cand, sizes, fg, bg, cand_ptr = [], [], [], [], [0]
    for b in range(len(ptr) - 1):
        start, end = int(ptr[b]), int(ptr[b + 1])
        ids = np.arange(start, end)
        order = sorted(ids.tolist(), key=lambda i: (-float(heat[i]), i))
        suppressed: set[int] = set()
        accepted = 0
        for c in order:
            if accepted == max_candidates:
                break
            if c in suppressed or not heat[c] >= threshold:
                continue
            dx = xyz[start:end, 0] - xyz[c, 0]
            dy = xyz[start:end, 1] - xyz[c, 1]
            dz = xyz[start:end, 2] - xyz[c, 2]
            d2_scene = (dx * dx + dy * dy) + dz * dz
            d2 = np.zeros(len(heat), dtype=np.float32)
            d2[start:end] = d2_scene
            within = ids[d2_scene < r2]
            suppressed.update(within.tolist())
            same = semantic[ids] == semantic[c]
            fg_set = ids[(d2_scene < r2) & same]
            bg_set = ids[(d2_scene < r2_bg) & ~same]
            if heat[c] < ratio * heat[fg_set].max():
                continue
            accepted += 1
            cand.append(c)
            sizes.append(len(fg_set))
            fg.append(capped(fg_set, d2))
            bg.append(capped(bg_set, d2))
        cand_ptr.append(len(cand))

    def csr(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        ptr_out = np.cumsum([0] + [len(x) for x in lists]).astype(np.int64)
        return ptr_out, np.array([i for x in lists for i in x], dtype=np.int64)

    fg_ptr, fg_idx = csr(fg)
    bg_ptr, bg_idx = csr(bg)
    return {
        "candidate_idx": np.array(cand, dtype=np.int64),
        "candidate_ptr": np.array(cand_ptr, dtype=np.int64),
        "sizes": np.array(sizes, dtype=np.int64),
        "fg_ptr": fg_ptr,
        "fg_idx": fg_idx,
        "bg_ptr": bg_ptr,
        "bg_idx": bg_idx,
    }


@dataclass(frozen=True)
class Case:
    name: str
    heat: np.ndarray
    coords: np.ndarray
    semantic: np.ndarray
    ptr: np.ndarray
    params: dict = field(default_factory=dict)


def blob_scene(
    rng: np.random.Generator, num_blobs: int, points_per_blob: int, extent: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussian blobs with heat peaked at their centres and a class per blob (float32)."""
    centres = rng.random((num_blobs, 3)) * np.array([extent, extent, 1.0])
    blob = np.repeat(np.arange(num_blobs), points_per_blob)
    coords = centres[blob] + rng.normal(scale=0.15, size=(len(blob), 3))
    dist2 = ((coords - centres[blob]) ** 2).sum(axis=1)
    logits = 3.0 * np.exp(-dist2 / 0.05) + 0.01 * rng.random(len(blob))
    heat = np.exp(logits) / np.exp(logits).sum()
    semantic = rng.integers(2, 5, size=num_blobs)[blob]
    return heat.astype(np.float32), coords.astype(np.float32), semantic.astype(np.int64)


def _cases() -> list[Case]:
    rng = np.random.default_rng(11)
    h, x, s = blob_scene(rng, 6, 60, 2.0)
    h2, x2, s2 = blob_scene(rng, 4, 50, 1.5)
    h3, x3, s3 = blob_scene(rng, 12, 450, 3.0)  # > 4096 points: the wide-digit radix path
    n = len(h)
    # Equal heats everywhere: the visiting order is the index order.
    flat_x = (rng.random((80, 3)) * 1.2).astype(np.float32)
    # Heat quantised to a few levels: many ties, broken by the smaller index.
    quant_h = (np.floor(h * 4 / h.max()) / 4).astype(np.float32)
    # Points on a 0.5 m lattice with R = 0.5: neighbours sit exactly at d2 == R^2 (excluded).
    lattice = np.stack(np.meshgrid(*[np.arange(4, dtype=np.float32) * 0.5] * 3), -1).reshape(-1, 3)
    lat_h = rng.permutation(np.linspace(0.1, 1.0, len(lattice))).astype(np.float32)
    lat_s = 2 + np.arange(len(lattice)) % 2
    # Signed zeros and negative heats: -0.0 ties with +0.0 (index order decides).
    signed_h = rng.choice(np.array([0.0, -0.0, 0.2, -0.3], np.float32), size=80)
    one = np.zeros(0, np.float32)
    return [
        Case("empty", one, np.zeros((0, 3), np.float32), np.zeros(0, np.int64), np.array([0, 0])),
        Case("no_scene", one, np.zeros((0, 3), np.float32), np.zeros(0, np.int64), np.array([0])),
        Case(
            "single_point",
            np.array([0.5], np.float32),
            np.array([[1.0, 2.0, 3.0]], np.float32),
            np.array([4]),
            np.array([0, 1]),
        ),
        Case("blobs", h, x, s, np.array([0, n])),
        Case("one_class", h, x, np.full(n, 3), np.array([0, n])),
        Case(
            "equal_heats",
            np.full(80, 0.25, np.float32),
            flat_x,
            rng.integers(2, 4, 80),
            np.array([0, 80]),
        ),
        Case("quantised_heat_ties", quant_h, x, s, np.array([0, n])),
        Case("neighbour_cap", h, x, s, np.array([0, n]), {"max_neighbors": 5}),
        Case("cap_one", h, x, s, np.array([0, n]), {"max_neighbors": 1, "radius": 0.5}),
        Case("few_candidates", h, x, s, np.array([0, n]), {"max_candidates": 3}),
        Case("ratio_zero", h, x, s, np.array([0, n]), {"local_ratio": 0.0}),
        Case("ratio_one", h, x, s, np.array([0, n]), {"local_ratio": 1.0}),
        Case(
            "all_below_threshold",
            h,
            x,
            s,
            np.array([0, n]),
            {"score_threshold": float(h.max()) * 2},
        ),
        Case(
            "score_threshold", h, x, s, np.array([0, n]), {"score_threshold": float(np.median(h))}
        ),
        Case("lattice_boundary", lat_h, lattice, lat_s, np.array([0, 64]), {"radius": 0.5}),
        Case(
            "lattice_cap_ties",
            lat_h,
            lattice,
            lat_s,
            np.array([0, 64]),
            {"radius": 0.8, "max_neighbors": 3},
        ),
        Case(
            "equal_heat_lattice_cap",
            np.ones(64, np.float32),
            lattice,
            lat_s,
            np.array([0, 64]),
            {"radius": 0.75, "max_neighbors": 4, "local_ratio": 1.0},
        ),
        Case(
            "signed_zero_heat",
            signed_h,
            flat_x,
            rng.integers(2, 4, 80),
            np.array([0, 80]),
            {"radius": 0.2},
        ),
        Case(
            "negative_heat",
            signed_h,
            flat_x,
            rng.integers(2, 4, 80),
            np.array([0, 80]),
            {"radius": 0.2, "score_threshold": -1.0},
        ),
        Case("medium_scene", h3, x3, s3, np.array([0, len(h3)]), {"max_neighbors": 300}),
        Case("big_radius", h2, x2, s2, np.array([0, len(h2)]), {"radius": 50.0}),
        Case("tiny_radius", h2, x2, s2, np.array([0, len(h2)]), {"radius": 1e-3}),
        Case(
            "batch_empty_between",
            np.concatenate([h, h2]),
            np.concatenate([x, x2]),
            np.concatenate([s, s2]),
            np.array([0, n, n, n + len(h2)]),
            {"max_neighbors": 40},
        ),
        Case(
            "batch_empty_ends",
            np.concatenate([h2, h2]),
            np.concatenate([x2, x2 + 100.0]),
            np.concatenate([s2, s2]),
            np.array([0, 0, len(h2), 2 * len(h2), 2 * len(h2)]),
        ),
    ]


CASES = _cases()


def _mine(case: Case, device: str = "cpu") -> Candidates:
    return mine_candidates(
        torch.from_numpy(case.heat).to(device),
        torch.from_numpy(case.coords).to(device),
        torch.from_numpy(case.semantic).to(device),
        torch.from_numpy(case.ptr).to(device),
        **case.params,
    )


def _assert_equal(got: Candidates, want: dict[str, np.ndarray]) -> None:
    for name in FIELDS:
        value = getattr(got, name).cpu()
        assert value.dtype == torch.int64, name
        np.testing.assert_array_equal(value.numpy(), want[name], err_msg=name)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_reference(case: Case, device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    cpu = _mine(case)
    _assert_equal(
        cpu, reference_mine(case.heat, case.coords, case.semantic, case.ptr, **case.params)
    )
    if device != "cpu":
        monkeypatch.setenv("DKNET_OPS_BACKEND", "ext")
        gpu = _mine(case, device)
        assert gpu.candidate_idx.device.type == "cuda"
        _assert_equal(gpu, {name: getattr(cpu, name).numpy() for name in FIELDS})


def test_known_answer_two_blobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    # Class 2 around x = 0 and class 5 around x = 1; point 5 (x = 0.55) is a lone low peak.
    coords = torch.tensor(
        [[0.0, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [1.0, 0, 0], [1.1, 0, 0], [0.55, 0, 0]]
    )
    heat = torch.tensor([0.9, 0.5, 0.4, 0.8, 0.3, 0.01])
    semantic = torch.tensor([2, 2, 2, 5, 5, 2])
    got = mine_candidates(heat, coords, semantic, torch.tensor([0, 6]), radius=0.3, local_ratio=0.5)
    # Point 5 has no neighbour within R = 0.3, so it passes local normalisation.
    assert got.candidate_idx.tolist() == [0, 3, 5]
    assert got.candidate_ptr.tolist() == [0, 3]
    assert got.sizes.tolist() == [3, 2, 1]
    assert got.fg_ptr.tolist() == [0, 3, 5, 6]
    assert got.fg_idx.tolist() == [0, 1, 2, 3, 4, 5]
    # Background = another class within 2R = 0.6: none for 0, {5} for 3, {3, 4} for 5.
    assert got.bg_ptr.tolist() == [0, 0, 1, 3]
    assert got.bg_idx.tolist() == [5, 3, 4]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.name.startswith("batch")], ids=lambda c: c.name
)
def test_thread_count_does_not_change_results(case, threads, numba_threads, monkeypatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    numba_threads(threads)
    got = _mine(case)
    _assert_equal(
        got, reference_mine(case.heat, case.coords, case.semantic, case.ptr, **case.params)
    )


def test_inputs_are_not_modified(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    case = CASES[3]
    heat, coords = torch.from_numpy(case.heat.copy()), torch.from_numpy(case.coords.copy())
    mine_candidates(heat, coords, torch.from_numpy(case.semantic), torch.from_numpy(case.ptr))
    assert np.array_equal(heat.numpy(), case.heat) and np.array_equal(coords.numpy(), case.coords)


def test_float64_inputs_and_grad_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    case = CASES[3]
    heat = torch.from_numpy(case.heat.astype(np.float64)).requires_grad_()
    got = mine_candidates(
        heat,
        torch.from_numpy(case.coords).double(),
        torch.from_numpy(case.semantic).int(),
        torch.from_numpy(case.ptr),
    )
    _assert_equal(got, reference_mine(case.heat, case.coords, case.semantic, case.ptr))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"radius": 0.0}, ConfigError, "radius"),
        ({"radius": 1e-30}, ConfigError, "squared radius"),
        ({"local_ratio": -0.1}, ConfigError, "local_ratio"),
        ({"max_candidates": 0}, ConfigError, "max_candidates"),
        ({"max_neighbors": 2.5}, ConfigError, "max_neighbors"),
        ({"score_threshold": float("inf")}, ConfigError, "finite"),
        ({"heat": torch.rand(4, 1)}, ValueError, "heat"),
        ({"coords": torch.rand(3, 3)}, ValueError, "coords"),
        ({"semantic_pred": torch.rand(4)}, ValueError, "integer"),
        ({"ptr": torch.tensor([0, 2])}, ValueError, "ptr"),
        ({"heat": torch.tensor([0.1, float("nan"), 0.2, 0.3])}, InvalidPointCloudError, "NaN"),
    ],
)
def test_rejects_bad_inputs(kwargs: dict, error: type, match: str) -> None:
    args = {
        "heat": torch.rand(4),
        "coords": torch.rand(4, 3),
        "semantic_pred": torch.zeros(4, dtype=torch.int64),
        "ptr": torch.tensor([0, 4]),
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        mine_candidates(
            args.pop("heat"), args.pop("coords"), args.pop("semantic_pred"), args.pop("ptr"), **args
        )
