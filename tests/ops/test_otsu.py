"""Tests of ``dknet.ops.otsu_thresholds`` against a direct Otsu and scikit-image.

When scikit-image agrees with dknet: ``skimage.filters.threshold_otsu`` applied to the integer
bin indices of a row (``bin = min(floor(m * K), K - 1)``) histograms every integer from the
smallest to the largest index present (``nbins`` is ignored for integer images, so the range
is exactly the populated one) and returns the last bin of the low class. Splits outside that
range leave one side empty, so dknet skips them too, and both maximise the same
``n_low * n_high * (mu_low - mu_high)^2`` with bin-index means and the first maximum winning.
Hence ``t* = threshold_otsu(bins) + 1`` whenever the row populates at least two bins. They can
differ only (a) for rows in a single bin, where scikit-image returns that bin and dknet 0.0, and
(b) where two splits' variances are within a few ulps: scikit-image multiplies the integer
product ``n_low * n_high`` by ``(mu_low - mu_high) ** 2`` while dknet multiplies left to right,
so a near-tie may round the other way. Random rows never come that close.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.filters import threshold_otsu

from dknet.errors import ConfigError
from dknet.ops import otsu_thresholds

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def bin_indices(row: np.ndarray, num_bins: int) -> np.ndarray:
    """The contract's binning: NaN -> 0, clamp to [0, 1], min(floor(m * K), K - 1) in float32."""
    m = np.nan_to_num(row.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    m = np.clip(m, np.float32(0.0), np.float32(1.0))
    return np.minimum(np.floor(m * np.float32(num_bins)).astype(np.int64), num_bins - 1)


def reference_otsu(row: np.ndarray, num_bins: int) -> np.float32:
    """Direct Otsu: try every split t, keep the first largest between-class variance."""
    hist = np.bincount(bin_indices(row, num_bins), minlength=num_bins)
    best_var, best_t = -1.0, 0
    for t in range(1, num_bins):
        n_low, n_high = int(hist[:t].sum()), int(hist[t:].sum())
        if n_low == 0 or n_high == 0:
            continue
        s_low = sum(k * int(hist[k]) for k in range(t))
        s_high = sum(k * int(hist[k]) for k in range(t, num_bins))
        mu_low, mu_high = s_low / n_low, s_high / n_high
        var = float(n_low) * float(n_high) * (mu_low - mu_high) * (mu_low - mu_high)
        if var > best_var:
            best_var, best_t = var, t
    return np.float32(best_t / num_bins)


def _rows() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(9)
    n = 500
    soft = 1.0 / (1.0 + np.exp(-rng.normal(scale=4.0, size=n) + 2.0))
    edges = (np.arange(0, 101, dtype=np.float32) / np.float32(100)).astype(np.float32)
    return {
        "sigmoid": soft.astype(np.float32),
        "bimodal": np.concatenate([rng.normal(0.2, 0.05, n // 2), rng.normal(0.8, 0.05, n // 2)])
        .clip(0, 1)
        .astype(np.float32),
        "uniform": rng.random(n).astype(np.float32),
        "sparse_mask": np.where(rng.random(n) < 0.05, rng.random(n), 0.0).astype(np.float32),
        "constant": np.full(n, 0.37, np.float32),
        "all_zero": np.zeros(n, np.float32),
        "all_one": np.ones(n, np.float32),
        "zero_and_one": np.array([0.0, 1.0] * 10, np.float32),
        "contains_one": np.concatenate([rng.random(50), np.ones(7)]).astype(np.float32),
        "bin_edges": edges,
        "just_below_edges": np.nextafter(edges, np.float32(0)).astype(np.float32),
        "out_of_range_and_nan": np.array(
            [np.nan, -0.5, 1.5, np.inf, -np.inf, 0.3, 0.31, 0.9, -0.0, 0.6], np.float32
        ),
        "one_value_per_side": np.array([0.1, 0.9], np.float32),
        "two_adjacent_bins": np.array([0.50, 0.51, 0.505, 0.515], np.float32),
    }


ROWS = _rows()


def _pack(names: list[str], length: int = 600) -> np.ndarray:
    """Stack rows into one (R, length) matrix, tiling each row (zero padding would alter it)."""
    out = np.empty((len(names), length), np.float32)
    for r, name in enumerate(names):
        row = ROWS[name]
        out[r] = np.resize(row, length)
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("num_bins", [2, 7, 100, 256])
@pytest.mark.parametrize("name", list(ROWS))
def test_matches_reference(name: str, num_bins: int, device: str, monkeypatch) -> None:
    row = ROWS[name]
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    cpu = otsu_thresholds(torch.from_numpy(row[None]), num_bins=num_bins)
    assert cpu.dtype == torch.float32 and cpu.shape == (1,)
    assert cpu.numpy()[0] == reference_otsu(row, num_bins)
    if device != "cpu":
        monkeypatch.setenv("DKNET_OPS_BACKEND", "ext")
        gpu = otsu_thresholds(torch.from_numpy(row[None]).to(device), num_bins=num_bins)
        assert gpu.device.type == "cuda"
        assert torch.equal(gpu.cpu(), cpu)  # bit-identical


@pytest.mark.parametrize("device", DEVICES)
def test_batch_of_rows(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    masks = _pack(list(ROWS))
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba" if device == "cpu" else "ext")
    got = otsu_thresholds(torch.from_numpy(masks).to(device), num_bins=100).cpu().numpy()
    want = np.array([reference_otsu(r, 100) for r in masks], np.float32)
    np.testing.assert_array_equal(got, want)


def test_known_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    masks = torch.tensor(
        [
            [0.0, 0.0, 1.0, 1.0],  # bins 0 and 99: every split ties, the smallest t = 1 wins
            [0.0, 0.1, 0.9, 1.0],  # bins 0, 10, 90, 99: the gap 10 | 90 is split at t = 11
            [0.4, 0.4, 0.4, 0.4],  # one bin: no split
            [1.0, 1.0, 0.999, 1.0],  # 1.0 lands in the last bin together with 0.999
        ]
    )
    got = otsu_thresholds(masks, num_bins=100)
    assert got.tolist() == [np.float32(0.01), np.float32(0.11), 0.0, 0.0]


@pytest.mark.parametrize("num_bins", [10, 100])
@pytest.mark.parametrize("name", [n for n in ROWS if n not in ("constant", "all_zero", "all_one")])
def test_agrees_with_scikit_image(name: str, num_bins: int, monkeypatch) -> None:
    bins = bin_indices(ROWS[name], num_bins)
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    got = otsu_thresholds(torch.from_numpy(ROWS[name][None]), num_bins=num_bins)
    if len(np.unique(bins)) < 2:
        # The definitions differ here: scikit-image returns the one populated bin, while dknet
        # has no split and returns the documented 0.0.
        assert got.numpy()[0] == 0.0
        return
    t_star = int(threshold_otsu(bins, nbins=num_bins)) + 1
    assert got.numpy()[0] == np.float32(t_star / num_bins)


def test_agrees_with_scikit_image_on_random_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    rng = np.random.default_rng(21)
    masks = 1.0 / (1.0 + np.exp(-rng.normal(size=(64, 400)) * rng.uniform(1, 8, (64, 1))))
    masks = masks.astype(np.float32)
    got = otsu_thresholds(torch.from_numpy(masks), num_bins=100).numpy()
    want = [np.float32((int(threshold_otsu(bin_indices(r, 100))) + 1) / 100) for r in masks]
    np.testing.assert_array_equal(got, np.array(want, np.float32))


def test_empty_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    none = otsu_thresholds(torch.zeros(0, 50))
    assert none.shape == (0,) and none.dtype == torch.float32
    no_points = otsu_thresholds(torch.zeros(3, 0))
    assert no_points.tolist() == [0.0, 0.0, 0.0]


def test_thread_count_does_not_change_results(numba_threads, monkeypatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    masks = torch.from_numpy(_pack(list(ROWS) * 3, 1000))
    numba_threads(1)
    single = otsu_thresholds(masks)
    numba_threads(2)
    double = otsu_thresholds(masks)
    assert torch.equal(single, double)


def test_input_dtypes_and_no_mutation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DKNET_OPS_BACKEND", "numba")
    masks64 = torch.from_numpy(_pack(["sigmoid", "bimodal"]).astype(np.float64))
    before = masks64.clone()
    got = otsu_thresholds(masks64.requires_grad_(), num_bins=100)
    assert not got.requires_grad
    assert torch.equal(masks64.detach(), before)
    assert torch.equal(got, otsu_thresholds(masks64.detach().float(), num_bins=100))


@pytest.mark.parametrize(
    ("masks", "num_bins", "error", "match"),
    [
        (np.zeros((2, 3), np.float32), 100, TypeError, "torch.Tensor"),
        (torch.rand(5), 100, ValueError, "shape"),
        (torch.zeros(2, 3, dtype=torch.int64), 100, ValueError, "floating-point"),
        (torch.rand(2, 3), 1, ConfigError, ">= 2"),
        (torch.rand(2, 3), 0, ConfigError, ">= 1"),
        (torch.rand(2, 3), 2**25, ConfigError, "<="),
        (torch.rand(2, 3), 10.0, ConfigError, "integer"),
    ],
)
def test_rejects_bad_inputs(masks, num_bins, error, match) -> None:
    with pytest.raises(error, match=match):
        otsu_thresholds(masks, num_bins=num_bins)
