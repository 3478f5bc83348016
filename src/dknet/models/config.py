"""``ModelConfig``: every number that shapes the DKNet network and its inference.

The paper configuration (:meth:`ModelConfig.paper`) reproduces the authors' released model
exactly (module tree, widths, BatchNorm eps, thresholds; ALGORITHM.md sections 3-8), so their
``checkpoint.pth`` loads into it unchanged. :meth:`ModelConfig.cpu` is the smaller network
for laptops: same heads and pipeline, a narrower and shallower U-Net.

The config is plain data (ints, floats, tuples), stored as a dict inside every dknet checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from dknet.errors import ConfigError
from dknet.labels import NUM_SEMANTIC_CLASSES

__all__ = ["ModelConfig"]


@dataclass(frozen=True)
class ModelConfig:
    """The network's shape and its inference parameters.

    Attributes:
        width: m, channels of the first U-Net level and of every point-wise head (paper: 32).
        levels: U-Net levels; level l has ``(l + 1) * width`` channels (paper: 7).
        blocks_per_level: residual blocks per level on each side of the U (paper: 2).
        in_channels: input features per point: RGB + xyz (6).
        num_classes: semantic classes (20).
        embed_dim: channels of the mask and kernel features (16).
        decoder_shape: hidden and output widths of the per-instance dynamic decoder; its input
            is ``embed_dim + 3``. The weight generator emits ``decoder_params`` numbers.
        voxel_size: voxel side in metres (0.02).
        min_spatial_shape: lower bound of the sparse grid's extent per axis, in voxels (128).
        mining_radius: R of LN-NMS in metres (0.3).
        local_ratio: Q of LN-NMS (0.5).
        max_candidates: T, candidates per scene (150).
        max_neighbors: cap of each candidate's foreground/background list (2000).
        score_threshold: heat threshold of mining (0.0, inactive, as the authors ran it).
        merge_threshold: merge-score threshold of candidate aggregation (0.5).
        max_instances_train: instances decoded per scene in training (80).
        otsu_bins: K of the per-instance Otsu threshold (100).
        min_instance_points: test-time: instances with at most this many points are dropped
            (100).
        score_threshold_test: test-time: instances scoring at most this are dropped (0.1).
        decode_block_size: hidden activations (floats) per block of points when decoding at
            inference: blocks bound memory on big scenes and are faster than one pass over
            the scene (default 2^23, 32 MB: about 3,500 points for 150 instances).
    """

    width: int = 32
    levels: int = 7
    blocks_per_level: int = 2
    in_channels: int = 6
    num_classes: int = NUM_SEMANTIC_CLASSES
    embed_dim: int = 16
    decoder_shape: tuple[int, ...] = (16, 1)
    voxel_size: float = 0.02
    min_spatial_shape: int = 128
    mining_radius: float = 0.3
    local_ratio: float = 0.5
    max_candidates: int = 150
    max_neighbors: int = 2000
    score_threshold: float = 0.0
    merge_threshold: float = 0.5
    max_instances_train: int = 80
    otsu_bins: int = 100
    min_instance_points: int = 100
    score_threshold_test: float = 0.1
    decode_block_size: int = 2**23

    def __post_init__(self) -> None:
        ints = {
            "width": self.width,
            "levels": self.levels,
            "blocks_per_level": self.blocks_per_level,
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "embed_dim": self.embed_dim,
            "min_spatial_shape": self.min_spatial_shape,
            "max_candidates": self.max_candidates,
            "max_neighbors": self.max_neighbors,
            "max_instances_train": self.max_instances_train,
            "otsu_bins": self.otsu_bins,
            "decode_block_size": self.decode_block_size,
        }
        for name, value in ints.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"model.{name} must be a positive integer, got {value!r}")
        if self.num_classes <= 2:
            raise ConfigError("model.num_classes must be > 2 (wall and floor are not instances)")
        if self.otsu_bins < 2:
            raise ConfigError(f"model.otsu_bins must be >= 2, got {self.otsu_bins}")
        shape = tuple(self.decoder_shape)
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise ConfigError(f"model.decoder_shape must be positive integers, got {shape!r}")
        if shape[-1] != 1:
            raise ConfigError(f"model.decoder_shape must end with 1 (one mask), got {shape!r}")
        object.__setattr__(self, "decoder_shape", shape)
        for name in ("voxel_size", "mining_radius"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"model.{name} must be a number > 0, got {value!r}")
        if self.min_instance_points < 0:
            raise ConfigError("model.min_instance_points must be >= 0")

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels per U-Net level, ``(width, 2 * width, ...)``."""
        return tuple(self.width * (level + 1) for level in range(self.levels))

    @property
    def decoder_params(self) -> int:
        """L, the numbers the weight generator emits per instance (337 for [16, 1])."""
        total = 0
        fan_in = self.embed_dim + 3
        for fan_out in self.decoder_shape:
            total += fan_in * fan_out + fan_out
            fan_in = fan_out
        return total

    @classmethod
    def paper(cls) -> ModelConfig:
        """The authors' configuration (m = 32, 7 levels, 30,131,551 parameters)."""
        return cls()

    @classmethod
    def cpu(cls) -> ModelConfig:
        """The CPU configuration: m = 16, 5 levels, the paper's heads and pipeline."""
        return cls(width=16, levels=5)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints and YAML)."""
        data = dataclasses.asdict(self)
        data["decoder_shape"] = list(self.decoder_shape)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """The inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(unknown)}")
        values = dict(data)
        if "decoder_shape" in values:
            values["decoder_shape"] = tuple(values["decoder_shape"])
        return cls(**values)
