"""PointBatch: one-scene batches for inference, and packing batches together."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dknet.data.batch import PointBatch


def _scene(n: int, seed: int, instances: list[int]) -> PointBatch:
    rng = np.random.default_rng(seed)
    return PointBatch.from_scene(
        rng.uniform(-2, 2, size=(n, 3)),
        rng.integers(0, 256, size=(n, 3)),
        scene_id=f"s{seed}",
        instance_labels=np.array(instances),
        superpoints=np.arange(n) // 2 + 7,
    )


def test_from_scene_features_grid_and_compact_ids() -> None:
    b = _scene(6, 0, [9, 9, -1, 4, 4, 9])
    assert b.instance_labels.tolist() == [1, 1, -1, 0, 0, 1]
    assert b.instance_ptr.tolist() == [0, 2]
    assert b.superpoints is not None and b.superpoints.tolist() == [0, 0, 1, 1, 2, 2]
    torch.testing.assert_close(b.features[:, 3:], b.coords)
    assert float(b.features[:, :3].min()) >= -1.0 and float(b.features[:, :3].max()) <= 1.0
    # voxels: float32 (xyz * 50) shifted to a zero minimum, as the authors form them
    expected = b.coords.numpy() * np.float32(50.0)
    np.testing.assert_array_equal(b.grid_coords.numpy(), expected - expected.min(axis=0))
    assert torch.all(b.semantic_labels == -1)


def test_concat_offsets_scenes_instances_and_superpoints() -> None:
    a = _scene(4, 1, [0, 0, 1, -1])
    c = _scene(6, 2, [-1, 0, 0, 0, 1, 2])
    batch = PointBatch.concat([a, c])
    assert batch.ptr.tolist() == [0, 4, 10]
    assert batch.instance_ptr.tolist() == [0, 2, 5]
    assert batch.instance_labels.tolist() == [0, 0, 1, -1, -1, 2, 2, 2, 3, 4]
    assert batch.superpoints is not None
    assert batch.superpoints.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert batch.scene_ids == ("s1", "s2") and batch.num_scenes == 2
    with pytest.raises(ValueError, match="at least one"):
        PointBatch.concat([])
