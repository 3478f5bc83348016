"""`collate_scenes`: packing, instance and superpoint offsets; the seeding helpers."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from dknet.data.collate import collate_scenes, seeded_generator, worker_init_fn
from dknet.data.transforms import SceneArrays, TrainAugmentation


def _sample(scene_id: str, instance: list[int], superpoints: list[int] | None, seed: int):
    n = len(instance)
    rng = np.random.default_rng(seed)
    scene = SceneArrays(
        scene_id=scene_id,
        coords=rng.normal(size=(n, 3)).astype(np.float32),
        colors=rng.integers(0, 256, size=(n, 3)).astype(np.uint8),
        semantic_labels=rng.integers(-1, 20, size=n),
        instance_labels=np.array(instance, dtype=np.int64),
        superpoints=None if superpoints is None else np.array(superpoints, dtype=np.int64),
    )
    return TrainAugmentation(enabled=False)(scene, rng)


def test_packs_scenes_with_offsets() -> None:
    a = _sample("a", [0, 1, -1, 1, 0], [0, 0, 1, 2, 2], seed=0)
    b = _sample("b", [-1, -1, -1], [0, 1, 1], seed=1)  # no instance
    c = _sample("c", [4, 2, 2, -1], [3, 3, 5, 5], seed=2)  # compacted to 1, 0, 0, -1
    batch = collate_scenes([a, b, c])

    assert batch.scene_ids == ("a", "b", "c")
    assert batch.ptr.tolist() == [0, 5, 8, 12]
    assert batch.instance_ptr.tolist() == [0, 2, 2, 4]
    assert batch.instance_labels.tolist() == [0, 1, -1, 1, 0, -1, -1, -1, 3, 2, 2, -1]
    assert batch.superpoints is not None
    assert batch.superpoints.tolist() == [0, 0, 1, 2, 2, 3, 4, 4, 5, 5, 6, 6]
    for name in ("coords", "grid_coords", "features", "semantic_labels"):
        expected = np.concatenate([getattr(s, name) for s in (a, b, c)])
        assert torch.equal(getattr(batch, name), torch.from_numpy(expected)), name
    assert batch.coords.dtype == torch.float32 and batch.ptr.dtype == torch.int64
    assert batch.instance_labels.dtype == torch.int64 and batch.features.shape == (12, 6)
    # Each scene's ids lie in its instance_ptr range.
    for s in range(3):
        ids = batch.instance_labels[batch.ptr[s] : batch.ptr[s + 1]]
        ids = ids[ids >= 0]
        assert bool(((ids >= batch.instance_ptr[s]) & (ids < batch.instance_ptr[s + 1])).all())


def test_superpoints_all_or_none() -> None:
    a = _sample("a", [0, -1], None, seed=0)
    b = _sample("b", [0], None, seed=1)
    assert collate_scenes([a, b]).superpoints is None
    with pytest.raises(ValueError, match="without superpoints"):
        collate_scenes([a, _sample("c", [0], [0], seed=2)])
    with pytest.raises(ValueError, match="at least one"):
        collate_scenes([])


def test_empty_scene_in_a_batch() -> None:
    batch = collate_scenes([_sample("a", [], [], seed=0), _sample("b", [3], [9], seed=1)])
    assert batch.ptr.tolist() == [0, 0, 1]
    assert batch.instance_ptr.tolist() == [0, 0, 1]
    assert batch.instance_labels.tolist() == [0]
    assert batch.superpoints is not None and batch.superpoints.tolist() == [0]


def test_seeding_helpers() -> None:
    order = [torch.randperm(10, generator=seeded_generator(3, e)).tolist() for e in (0, 1, 0)]
    assert order[0] == order[2] != order[1]
    assert torch.randperm(10, generator=seeded_generator(4)).tolist() != order[0]

    state = (random.getstate(), np.random.get_state(), torch.get_num_threads())
    try:
        worker_init_fn(0)
        first = (random.random(), np.random.random())
        worker_init_fn(1)
        assert (random.random(), np.random.random()) == first
        assert torch.get_num_threads() == 1
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.set_num_threads(state[2])
