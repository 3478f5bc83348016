"""``otsu_thresholds``: one adaptive binarisation threshold per soft instance mask."""

from __future__ import annotations

import torch

from dknet.errors import ConfigError
from dknet.ops import _inputs

__all__ = ["otsu_thresholds"]

_OP = "otsu_thresholds"
# K must be exact in float32 for the binning product m * K.
_MAX_BINS = 2**24


@torch.no_grad()
def otsu_thresholds(masks: torch.Tensor, *, num_bins: int = 100) -> torch.Tensor:
    """Otsu threshold of every row of ``masks`` over ``num_bins`` bins (seed eq. S6).

    Per row: values are clamped into [0, 1] (NaN counts as 0) and binned as
    ``bin = min(floor(m * K), K - 1)`` with ``m * K`` a float32 product, so m = 1.0 falls in the
    last bin. For every split t in 1..K-1 (low = bins [0, t), high = bins [t, K)) with both
    sides non-empty, the between-class variance
    ``n_low * n_high * (mu_low - mu_high) * (mu_low - mu_high)`` is evaluated in float64, left to
    right, with exact integer counts and bin-index sums; the largest wins (strict ``>``: the
    smallest t wins ties). The threshold is ``float32(t* / K)``; callers keep values
    ``>= threshold``.

    This fixes two defects of the authors' GPU op: its shared histogram had a data race (counts,
    hence thresholds, could change from run to run), and m = 1.0 was binned one past the last
    bin. Their pipeline also crashed when there was no instance or every threshold was 0; here
    I = 0 returns an empty tensor and a row without a split (N = 0, or all values in one bin)
    gets threshold 0.0, a valid value the caller can use as is.

    Args:
        masks: (I, N) floating point soft masks, values in [0, 1]; any device; converted to
            float32 (a float64 value just below 1 may round to 1.0 and land in the last bin).
        num_bins: K, integer in [2, 2^24] (default 100).

    Returns:
        (I,) float32 thresholds on ``masks``' device, each in ``{t / K : t in 0..K-1}``.
        I = 0 gives an empty tensor.

    Raises:
        TypeError: ``masks`` is not a tensor.
        ValueError: ``masks`` is not a 2-D floating-point tensor.
        ConfigError: ``num_bins`` out of range.

    Notes:
        Not differentiable (runs under ``torch.no_grad``). Deterministic and bit-identical
        between the CUDA extension and the Numba backend, for any thread count: both count
        the same integers and perform the same IEEE float64 operations (no fused
        multiply-add), so the tolerance is zero.
    """
    masks = _inputs.check_float_tensor(masks, "masks", _OP, (None, None))
    bins = _inputs.positive_int(num_bins, "num_bins", _OP, maximum=_MAX_BINS)
    if bins < 2:
        raise ConfigError(f"{_OP}: num_bins must be >= 2 to split anything, got {bins}")
    masks32 = masks.detach().to(torch.float32).contiguous()
    device = masks.device
    backend = _inputs.select_backend(_OP, device)
    if backend == "ext":
        result: torch.Tensor = torch.ops.dknet.otsu_thresholds(masks32, bins)
        return result
    from dknet.ops import _numba

    (thresholds,) = _inputs.from_numpy(
        (_numba.otsu_thresholds(_inputs.as_numpy(masks32, torch.float32), bins),), device
    )
    return thresholds
