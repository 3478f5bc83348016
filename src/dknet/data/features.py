"""The network's per-point input, built the same way for training and inference (numpy only).

Colour as float32 ``rgb / 127.5 - 1`` in [-1, 1], then the metric xyz: six channels, the
authors' input. :class:`~dknet.data.batch.PointBatch` (inference) and
:class:`~dknet.data.transforms.TrainAugmentation` (training) both build it here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["colors_pm1", "input_features"]


def colors_pm1(colors: np.ndarray) -> np.ndarray:
    """(N, 3) RGB 0..255 -> float32 in [-1, 1], with float32 operations."""
    return np.asarray(colors, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


def input_features(rgb_pm1: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """(N, 6) float32 network input: colour in [-1, 1] (shifted in training), then metric xyz."""
    return np.concatenate([rgb_pm1.reshape(-1, 3), xyz.reshape(-1, 3)], axis=1).astype(
        np.float32, copy=False
    )
