"""Helpers for tests and benchmarks, shipped with the package so users' tests can use them too."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dknet.labels import INSTANCE_NYU40_IDS, NYU40_TO_SEMANTIC
from dknet.structures.point_cloud import IGNORE_LABEL, PointCloud

if TYPE_CHECKING:
    from dknet.data.batch import PointBatch

__all__ = ["devices", "free_port", "synthetic_batch", "synthetic_scene"]


def devices() -> list[str]:
    """The devices tests should cover: "cpu", plus "cuda" when torch sees a GPU."""
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for a test's process group)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def synthetic_scene(
    num_instances: int = 5,
    points_per_instance: int = 200,
    seed: int = 0,
    *,
    floor_points: int = 500,
    radius: float = 0.25,
    spacing: float = 1.5,
) -> PointCloud:
    """A tiny scene with exact labels: well-separated spheres standing on a floor patch.

    Sphere k is centred on a grid with ``spacing`` metres between centres (far more than
    ``2 * radius``), so any sensible instance method separates them perfectly.

    Args:
        num_instances: number of spheres (instances).
        points_per_instance: points sampled on each sphere's surface.
        seed: RNG seed; the same arguments always give the same scene.
        floor_points: points on the floor (semantic "floor", no instance).
        radius: sphere radius in metres.
        spacing: distance between sphere centres in metres.

    Returns:
        A PointCloud with N = num_instances * points_per_instance + floor_points points;
        ``semantic_labels`` are semantic indices (instance classes cycle through the 18 classes,
        floor is 1), ``instance_labels`` are 0..num_instances-1 (floor: IGNORE_LABEL).
    """
    rng = np.random.default_rng(seed)
    side = max(1, int(np.ceil(np.sqrt(max(num_instances, 1)))))
    coords, colors, semantic, instance = [], [], [], []
    for k in range(num_instances):
        centre = np.array([(k % side) * spacing, (k // side) * spacing, radius + 0.05])
        direction = rng.normal(size=(points_per_instance, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        coords.append(centre + radius * direction)
        colors.append(np.clip(rng.uniform(0.2, 0.8, size=3) + 0.02 * direction, 0.0, 1.0))
        nyu40 = INSTANCE_NYU40_IDS[k % len(INSTANCE_NYU40_IDS)]
        semantic.append(np.full(points_per_instance, NYU40_TO_SEMANTIC[nyu40]))
        instance.append(np.full(points_per_instance, k))
    extent = side * spacing
    floor = np.column_stack(
        [rng.uniform(-0.5, extent, floor_points), rng.uniform(-0.5, extent, floor_points),
         np.zeros(floor_points)]
    )  # fmt: skip
    coords.append(floor)
    colors.append(np.full((floor_points, 3), 0.4))
    semantic.append(np.full(floor_points, NYU40_TO_SEMANTIC[2]))
    instance.append(np.full(floor_points, IGNORE_LABEL))
    return PointCloud(
        coords=np.concatenate(coords).astype(np.float32),
        colors=np.concatenate(colors).astype(np.float32),
        semantic_labels=np.concatenate(semantic).astype(np.int64),
        instance_labels=np.concatenate(instance).astype(np.int64),
        source=f"synthetic_scene(seed={seed})",
    )


def synthetic_batch(
    num_instances: int = 6, points_per_instance: int = 300, seed: int = 1
) -> PointBatch:
    """:func:`synthetic_scene` centred and packed as a one-scene :class:`PointBatch`."""
    from dknet.data.batch import PointBatch

    pc = synthetic_scene(num_instances, points_per_instance, seed)
    return PointBatch.from_scene(
        pc.coords - pc.coords.mean(axis=0),
        pc.colors * 255.0,
        scene_id=f"synthetic_{seed}",
        semantic_labels=pc.semantic_labels,
        instance_labels=pc.instance_labels,
    )
