"""The one point-cloud representation used from reading to writing (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dknet.labels import IGNORE_LABEL

__all__ = ["PointCloud", "IGNORE_LABEL"]


@dataclass(frozen=True)
class PointCloud:
    """One scene's points and optional per-point annotations.

    Attributes:
        coords: (N, 3) float32, metres.
        colors: (N, 3) float32 in [0, 1]; mid-grey 0.5 when the source has no colours.
        normals: (N, 3) float32 or None.
        semantic_labels: (N,) int64 semantic index 0..19 or ``IGNORE_LABEL`` (-1), or None.
        instance_labels: (N,) int64 instance id >= 0 or ``IGNORE_LABEL`` (-1), or None.
        faces: (F, 3) int64 vertex indices of a triangle mesh, or None for a bare point cloud.
        has_colors: whether ``colors`` came from the source (False: filled with grey).
        source: where the cloud was read from (for messages), or "".
    """

    coords: np.ndarray
    colors: np.ndarray
    normals: np.ndarray | None = None
    semantic_labels: np.ndarray | None = None
    instance_labels: np.ndarray | None = None
    faces: np.ndarray | None = None
    has_colors: bool = True
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        n = self.coords.shape[0] if self.coords.ndim == 2 else -1
        if self.coords.ndim != 2 or self.coords.shape[1] != 3:
            raise ValueError(f"coords must have shape (N, 3), got {self.coords.shape}")
        if self.colors.shape != (n, 3):
            raise ValueError(f"colors must have shape ({n}, 3), got {self.colors.shape}")
        for name in ("normals",):
            value = getattr(self, name)
            if value is not None and value.shape != (n, 3):
                raise ValueError(f"{name} must have shape ({n}, 3), got {value.shape}")
        for name in ("semantic_labels", "instance_labels"):
            value = getattr(self, name)
            if value is not None and value.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {value.shape}")
        if self.faces is not None and (self.faces.ndim != 2 or self.faces.shape[1] != 3):
            raise ValueError(f"faces must have shape (F, 3), got {self.faces.shape}")

    @property
    def num_points(self) -> int:
        """Number of points N."""
        return int(self.coords.shape[0])
