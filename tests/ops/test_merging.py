"""Tests of ``dknet.ops.merge_candidates`` against the literal greedy loop of seed Algorithm 2."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from dknet.errors import ConfigError
from dknet.ops import Groups, merge_candidates

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
FIELDS = ("group_ids", "centers", "group_ptr")


def reference_merge(
    scores: np.ndarray, heat: np.ndarray, candidate_ptr: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """Seed Algorithm 2 as written: argmax over the matrix, union, blank the new group, repeat.

    Entries that may never link (diagonal, other scenes, inside a group) are set to -inf rather
    than 0 so the loop also terminates for thresholds below 0. The label written into a merged
    group is its highest-heat member (np.argmax: first, i.e. smallest, index on ties), so the
    final labels are the centres.
    """
    k = len(heat)
    t = np.float32(threshold)
    scene = np.repeat(np.arange(len(candidate_ptr) - 1), np.diff(candidate_ptr))
    a = scores.astype(np.float32).copy()
    a[scene[:, None] != scene[None, :]] = -np.inf
    np.fill_diagonal(a, -np.inf)
    labels = np.arange(k)
    while k > 0 and a.max() > t:
        i, j = divmod(int(a.argmax()), k)
        members = np.where((labels == labels[i]) | (labels == labels[j]))[0]
        centre = members[np.argmax(heat[members])]
        labels[members] = labels[centre]
        a[np.ix_(members, members)] = -np.inf

    group_ids = np.empty(k, dtype=np.int64)
    centers: list[int] = []
    group_ptr = [0]
    for b in range(len(candidate_ptr) - 1):
        seen: dict[int, int] = {}
        for i in range(int(candidate_ptr[b]), int(candidate_ptr[b + 1])):
            if labels[i] not in seen:  # first member met = smallest index of the group
                seen[labels[i]] = len(centers)
                centers.append(int(labels[i]))
            group_ids[i] = seen[labels[i]]
        group_ptr.append(len(centers))
    return {
        "group_ids": group_ids,
        "centers": np.array(centers, dtype=np.int64),
        "group_ptr": np.array(group_ptr, dtype=np.int64),
    }


@dataclass(frozen=True)
class Case:
    name: str
    scores: np.ndarray
    heat: np.ndarray
    ptr: np.ndarray
    threshold: float = 0.5


def _sparse_scores(rng: np.random.Generator, k: int, link_prob: float) -> np.ndarray:
    """Mostly low scores with a few links above 0.5 (one direction only, as the MLP allows)."""
    scores = rng.random((k, k)).astype(np.float32) * np.float32(0.5)
    links = rng.random((k, k)) < link_prob
    scores[links] = np.float32(0.5) + rng.random(int(links.sum())).astype(np.float32) * 0.5
    return scores


def _cases() -> list[Case]:
    rng = np.random.default_rng(5)
    s150 = _sparse_scores(rng, 150, 0.004)
    h150 = rng.random(150).astype(np.float32)
    s40 = _sparse_scores(rng, 40, 0.03)
    h40 = rng.random(40).astype(np.float32)
    asym = np.zeros((4, 4), np.float32)
    asym[3, 0] = 0.9  # only the lower triangle links 0 and 3
    diag = np.eye(5, dtype=np.float32)
    ties = np.full(6, 0.7, np.float32)
    chain = np.zeros((5, 5), np.float32)
    for i in range(4):
        chain[i, i + 1] = 0.6  # single linkage: a chain becomes one group
    at_threshold = np.full((3, 3), np.float32(0.5), np.float32)
    return [
        Case("empty", np.zeros((0, 0), np.float32), np.zeros(0, np.float32), np.array([0, 0])),
        Case("no_scene", np.zeros((0, 0), np.float32), np.zeros(0, np.float32), np.array([0])),
        Case("single", np.ones((1, 1), np.float32), np.array([0.3], np.float32), np.array([0, 1])),
        Case("all_below", s40 * np.float32(0.1), h40, np.array([0, 40])),
        Case("all_above", np.ones((40, 40), np.float32), h40, np.array([0, 40])),
        Case("sparse_150", s150, h150, np.array([0, 150])),
        Case("sparse_40", s40, h40, np.array([0, 40])),
        Case("asymmetric", asym, np.array([0.1, 0.2, 0.3, 0.4], np.float32), np.array([0, 4])),
        Case("diagonal_ignored", diag, np.arange(5, dtype=np.float32), np.array([0, 5])),
        Case("equal_heats", np.ones((6, 6), np.float32), ties, np.array([0, 6])),
        Case("chain", chain, np.array([0.1, 0.5, 0.2, 0.5, 0.4], np.float32), np.array([0, 5])),
        Case("score_equals_threshold", at_threshold, np.ones(3, np.float32), np.array([0, 3])),
        Case("negative_threshold", s40, h40, np.array([0, 10, 25, 40]), -0.5),
        Case("high_threshold", s40, h40, np.array([0, 40]), 0.95),
        Case("batch_empty_between", s40, h40, np.array([0, 12, 12, 40])),
        Case(
            "batch_cross_scene_links",
            np.ones((40, 40), np.float32),
            h40,
            np.array([0, 0, 7, 7, 30, 40]),
        ),
    ]


CASES = _cases()


def _merge(case: Case, device: str = "cpu") -> Groups:
    return merge_candidates(
        torch.from_numpy(case.scores).to(device),
        torch.from_numpy(case.heat).to(device),
        torch.from_numpy(case.ptr).to(device),
        threshold=case.threshold,
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_matches_greedy_reference(case: Case, device: str, monkeypatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    cpu = _merge(case)
    want = reference_merge(case.scores, case.heat, case.ptr, case.threshold)
    for name in FIELDS:
        value = getattr(cpu, name)
        assert value.dtype == torch.int64, name
        np.testing.assert_array_equal(value.numpy(), want[name], err_msg=name)
    if device != "cpu":
        monkeypatch.setenv("DKNET_OPS_BACKEND", "ext")
        gpu = _merge(case, device)
        for name in FIELDS:
            assert getattr(gpu, name).device.type == "cuda"
            assert torch.equal(getattr(gpu, name).cpu(), getattr(cpu, name)), name


def test_known_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    scores = torch.zeros(6, 6)
    scores[0, 2] = 0.8  # scene 0: {0, 2}, {1}
    scores[4, 3] = 0.6  # scene 1: {3, 4, 5} through 3-4 and 4-5
    scores[4, 5] = 0.51
    scores[1, 3] = 0.99  # cross-scene: ignored
    heat = torch.tensor([0.2, 0.9, 0.3, 0.5, 0.5, 0.1])
    got = merge_candidates(scores, heat, torch.tensor([0, 3, 6]))
    assert got.group_ids.tolist() == [0, 1, 0, 2, 2, 2]
    assert got.centers.tolist() == [2, 1, 3]  # 3 and 4 tie on heat: the smaller index wins
    assert got.group_ptr.tolist() == [0, 2, 3]
    assert got.num_groups == 3


def test_nan_scores_never_link_and_inputs_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    scores = torch.full((3, 3), float("nan"))
    scores[1, 2] = 0.7
    before = scores.clone()
    got = merge_candidates(scores, torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0, 3]))
    assert got.group_ids.tolist() == [0, 1, 1]
    assert got.centers.tolist() == [0, 2]
    assert torch.equal(scores.isnan(), before.isnan())
    assert torch.equal(scores.nan_to_num(), before.nan_to_num())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"scores": torch.rand(3, 4)}, ValueError, "scores"),
        ({"heat": torch.rand(3, 1)}, ValueError, "heat"),
        ({"candidate_ptr": torch.tensor([0, 2])}, ValueError, "candidate_ptr"),
        ({"heat": torch.tensor([0.1, float("inf"), 0.3])}, ValueError, "NaN or infinite"),
        ({"threshold": float("nan")}, ConfigError, "threshold"),
        ({"threshold": "0.5"}, ConfigError, "number"),
    ],
)
def test_rejects_bad_inputs(kwargs: dict, error: type, match: str) -> None:
    args = {
        "scores": torch.rand(3, 3),
        "heat": torch.rand(3),
        "candidate_ptr": torch.tensor([0, 3]),
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        merge_candidates(args.pop("scores"), args.pop("heat"), args.pop("candidate_ptr"), **args)


def test_kernels_work_without_a_writable_cache(tmp_path) -> None:
    """A read-only install: the jit helper must turn caching off instead of failing at import."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    code = (
        "import torch, dknet.ops._numba._jit as jit; "
        "assert not jit.cache_enabled(); "
        "from dknet.ops import merge_candidates; "
        "g = merge_candidates(torch.tensor([[0.0, 0.9], [0.0, 0.0]]), torch.tensor([0.2, 0.7]), "
        "torch.tensor([0, 2])); "
        "assert g.group_ids.tolist() == [0, 0] and g.centers.tolist() == [1]"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(blocker / "cache"), "DKNET_OPS_BACKEND": "numba"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
