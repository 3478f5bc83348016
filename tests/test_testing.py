"""The shipped test helpers produce what they promise."""

from __future__ import annotations

import numpy as np

from dknet.labels import IGNORE_LABEL
from dknet.testing import devices, synthetic_scene


def test_synthetic_scene_labels_and_separation() -> None:
    cloud = synthetic_scene(num_instances=7, points_per_instance=50, seed=3, floor_points=100)
    assert cloud.num_points == 7 * 50 + 100
    ids = cloud.instance_labels
    assert sorted(set(ids.tolist())) == [IGNORE_LABEL, *range(7)]
    assert (cloud.semantic_labels[ids == IGNORE_LABEL] == 1).all()
    centres = np.stack([cloud.coords[ids == k].mean(0) for k in range(7)])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(7) * 1e9
    assert gaps.min() > 1.0
    again = synthetic_scene(num_instances=7, points_per_instance=50, seed=3, floor_points=100)
    assert np.array_equal(cloud.coords, again.coords)


def test_devices_lists_cpu_first() -> None:
    assert devices()[0] == "cpu"
