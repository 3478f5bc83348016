"""``PointBatch``: B scenes packed point after point, the one input the network takes.

Scenes are concatenated (CSR layout, Pointcept/pytorch3d "packed"), never padded: scene b owns
rows ``ptr[b]:ptr[b+1]`` of every per-point tensor. Training batches come from
:func:`dknet.data.collate.collate_scenes`; inference builds one with :func:`PointBatch.from_scene`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch

from dknet.data.features import colors_pm1, input_features
from dknet.labels import IGNORE_LABEL

__all__ = ["PointBatch"]


@dataclass(frozen=True)
class PointBatch:
    """B packed scenes.

    Attributes:
        coords: (N, 3) float32, metric coordinates in metres (after the training augmentation's
            linear map, flip and rotation, but never elastically distorted). Everything metric
            (the xyz input feature, offsets, heat targets, mining radius) uses these.
        grid_coords: (N, 3) float32, the coordinates that form voxels, in voxel units
            (metres / voxel size; elastically distorted in training), shifted per scene so that
            each axis starts at 0. A point's voxel is ``floor(grid_coords)``.
        features: (N, C) float32 input features; for DKNet C = 6, ``[r, g, b, x, y, z]`` with
            RGB in [-1, 1] (``rgb / 127.5 - 1``, plus the training colour shift) and xyz equal
            to ``coords``.
        ptr: (B+1,) int64 scene boundaries (0, non-decreasing, N).
        semantic_labels: (N,) int64 class 0..19, or ``IGNORE_LABEL`` (-1); all -1 at inference.
        instance_labels: (N,) int64 instance id, numbered 0..K-1 across the whole batch (scene
            by scene, so ids of different scenes never collide), or -1.
        instance_ptr: (B+1,) int64 boundaries of each scene's instance ids: scene b owns ids
            ``instance_ptr[b]:instance_ptr[b+1]``.
        scene_ids: the B scene names.
        superpoints: optional (N,) int64 superpoint id, numbered across the batch like the
            instance ids (so different scenes never share one), or None.
    """

    coords: torch.Tensor
    grid_coords: torch.Tensor
    features: torch.Tensor
    ptr: torch.Tensor
    semantic_labels: torch.Tensor
    instance_labels: torch.Tensor
    instance_ptr: torch.Tensor
    scene_ids: tuple[str, ...]
    superpoints: torch.Tensor | None = None

    @property
    def num_scenes(self) -> int:
        """B."""
        return int(self.ptr.shape[0]) - 1

    @property
    def num_points(self) -> int:
        """N, over all scenes."""
        return int(self.coords.shape[0])

    @property
    def device(self) -> torch.device:
        """The device every tensor lives on."""
        return self.coords.device

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> PointBatch:
        """A copy with every tensor moved to ``device``."""
        moved: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                moved[f.name] = value.to(device, non_blocking=non_blocking)
        return replace(self, **moved)

    @classmethod
    def concat(cls, batches: list[PointBatch]) -> PointBatch:
        """Pack several batches into one, scene after scene.

        Instance and superpoint ids are offset so that different scenes never share one.
        """
        if not batches:
            raise ValueError("PointBatch.concat needs at least one batch")
        zero = torch.zeros(1, dtype=torch.int64)
        instance, superpoints = [], []
        inst_offset = sp_offset = 0
        for b in batches:
            ids = b.instance_labels.clone()
            ids[ids >= 0] += inst_offset
            instance.append(ids)
            inst_offset += int(b.instance_ptr[-1])
            if b.superpoints is not None:
                superpoints.append(b.superpoints + sp_offset)
                sp_offset += int(b.superpoints.max()) + 1 if b.superpoints.numel() else 0
        counts = torch.tensor([b.num_points for b in batches])
        inst_counts = torch.tensor([int(b.instance_ptr[-1] - b.instance_ptr[0]) for b in batches])
        return cls(
            coords=torch.cat([b.coords for b in batches]),
            grid_coords=torch.cat([b.grid_coords for b in batches]),
            features=torch.cat([b.features for b in batches]),
            ptr=torch.cat([zero, torch.cumsum(counts, 0)]),
            semantic_labels=torch.cat([b.semantic_labels for b in batches]),
            instance_labels=torch.cat(instance),
            instance_ptr=torch.cat([zero, torch.cumsum(inst_counts, 0)]),
            scene_ids=tuple(s for b in batches for s in b.scene_ids),
            superpoints=torch.cat(superpoints) if len(superpoints) == len(batches) else None,
        )

    def pin_memory(self) -> PointBatch:
        """A copy in pinned host memory (``DataLoader(pin_memory=True)`` calls this)."""
        pinned: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                pinned[f.name] = value.pin_memory()
        return replace(self, **pinned)

    @classmethod
    def from_scene(
        cls,
        coords: np.ndarray,
        colors: np.ndarray,
        *,
        voxel_size: float = 0.02,
        scene_id: str = "scene",
        semantic_labels: np.ndarray | None = None,
        instance_labels: np.ndarray | None = None,
        superpoints: np.ndarray | None = None,
    ) -> PointBatch:
        """A one-scene batch for inference, without augmentation.

        Args:
            coords: (N, 3) float metres. Used as given (centre them first if the scene is far
                from the origin; :mod:`dknet.data.preprocess` output already is).
            colors: (N, 3) RGB, either uint8 0..255 or float in [0, 255].
            voxel_size: voxel side in metres (0.02 for DKNet).
            scene_id: the scene's name.
            semantic_labels: optional (N,) int class 0..19 / -1.
            instance_labels: optional (N,) int instance id (any non-negative ids; compacted
                here) / -1.
            superpoints: optional (N,) int superpoint id (compacted here).
        """
        xyz = np.ascontiguousarray(coords, dtype=np.float32)
        n = xyz.shape[0]
        rgb = colors_pm1(colors)
        # The authors form voxels from float32 (xyz * scale) shifted to a zero minimum, then
        # truncate; the same float32 operations here give the same voxels.
        scaled = xyz * np.float32(1.0 / voxel_size) if n else xyz.reshape(0, 3)
        grid = scaled - scaled.min(axis=0, keepdims=True) if n else scaled
        sem = (
            np.full(n, IGNORE_LABEL, dtype=np.int64)
            if semantic_labels is None
            else np.asarray(semantic_labels, dtype=np.int64)
        )
        if instance_labels is None:
            inst = np.full(n, IGNORE_LABEL, dtype=np.int64)
            num_instances = 0
        else:
            raw = np.asarray(instance_labels, dtype=np.int64)
            inst = np.full(n, IGNORE_LABEL, dtype=np.int64)
            valid = raw >= 0
            uniq, inverse = np.unique(raw[valid], return_inverse=True)
            inst[valid] = inverse
            num_instances = int(uniq.shape[0])
        sp = None
        if superpoints is not None:
            _, sp_inverse = np.unique(np.asarray(superpoints, dtype=np.int64), return_inverse=True)
            sp = torch.from_numpy(sp_inverse.astype(np.int64).reshape(-1))
        features = input_features(rgb, xyz)
        return cls(
            coords=torch.from_numpy(xyz),
            grid_coords=torch.from_numpy(np.ascontiguousarray(grid, dtype=np.float32)),
            features=torch.from_numpy(np.ascontiguousarray(features)),
            ptr=torch.tensor([0, n], dtype=torch.int64),
            semantic_labels=torch.from_numpy(sem),
            instance_labels=torch.from_numpy(inst),
            instance_ptr=torch.tensor([0, num_instances], dtype=torch.int64),
            scene_ids=(scene_id,),
            superpoints=sp,
        )
