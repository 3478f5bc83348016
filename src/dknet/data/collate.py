"""Pack scenes into a :class:`~dknet.data.batch.PointBatch`, and seed ``DataLoader`` runs.

Reproducibility of a training run rests on three pieces:

* the augmentation of item ``i`` in epoch ``e`` is drawn from its own generator
  ``default_rng([seed, e, i])`` (:class:`~dknet.data.dataset.SceneDataset`), so it does not
  depend on which worker loads it or how many there are;
* the sampler's shuffling uses the ``DataLoader``'s torch generator: pass
  ``generator=seeded_generator(seed, epoch)``, building the loader each epoch;
* :func:`worker_init_fn` seeds each worker's global ``random``/``numpy``/``torch`` states from
  the per-worker seed torch derives from that generator, so code that still uses a global state
  is repeatable too, and keeps each worker to one intra-op thread.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch

from dknet.data.batch import PointBatch
from dknet.data.transforms import SceneSample

__all__ = ["collate_scenes", "seeded_generator", "worker_init_fn"]


def _offset_ids(ids: np.ndarray, offset: int) -> np.ndarray:
    """``ids + offset`` where ``ids >= 0``; -1 stays -1."""
    if offset == 0:
        return ids
    return np.where(ids >= 0, ids + offset, ids)


def collate_scenes(samples: Sequence[SceneSample]) -> PointBatch:
    """Concatenate B scenes into one packed :class:`~dknet.data.batch.PointBatch`.

    Usable directly as a ``DataLoader`` ``collate_fn``. Scene b's points are rows
    ``ptr[b]:ptr[b+1]``; its instance ids (0..K_b-1) are shifted by the instances of the scenes
    before it, so ids are unique across the batch and scene b owns
    ``instance_ptr[b]:instance_ptr[b+1]``. Superpoint ids are shifted the same way. Semantic
    labels and every float array are concatenated as they are.

    Args:
        samples: the B >= 1 scenes, each with compact instance and superpoint ids (as
            :class:`~dknet.data.dataset.SceneDataset` returns them).

    Returns:
        The batch on the CPU: ``coords``, ``grid_coords`` (N, 3) float32, ``features`` (N, C)
        float32, ``ptr`` and ``instance_ptr`` (B+1,) int64, labels (N,) int64, ``scene_ids``
        (B names), ``superpoints`` (N,) int64 or None when no sample has any.

    Raises:
        ValueError: no samples, or some samples have superpoints and others do not.
    """
    if not samples:
        raise ValueError("collate_scenes needs at least one scene")
    with_superpoints = [s.superpoints is not None for s in samples]
    if any(with_superpoints) and not all(with_superpoints):
        missing = [s.scene_id for s in samples if s.superpoints is None]
        raise ValueError(f"scenes without superpoints in a batch that has them: {missing}")

    ptr = np.zeros(len(samples) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([s.num_points for s in samples])
    instance_ptr = np.zeros(len(samples) + 1, dtype=np.int64)
    instance_ptr[1:] = np.cumsum([s.num_instances for s in samples])
    instance_labels = np.concatenate(
        [_offset_ids(s.instance_labels, int(instance_ptr[b])) for b, s in enumerate(samples)]
    )
    superpoints = None
    if all(with_superpoints):
        superpoint_ptr = np.cumsum([0] + [s.num_superpoints for s in samples])
        parts = []
        for b, s in enumerate(samples):
            assert s.superpoints is not None
            parts.append(_offset_ids(s.superpoints, int(superpoint_ptr[b])))
        superpoints = torch.from_numpy(np.concatenate(parts).astype(np.int64, copy=False))

    def cat(name: str, dtype: type) -> torch.Tensor:
        arrays = [getattr(s, name) for s in samples]
        return torch.from_numpy(np.concatenate(arrays).astype(dtype, copy=False))

    return PointBatch(
        coords=cat("coords", np.float32),
        grid_coords=cat("grid_coords", np.float32),
        features=cat("features", np.float32),
        ptr=torch.from_numpy(ptr),
        semantic_labels=cat("semantic_labels", np.int64),
        instance_labels=torch.from_numpy(instance_labels.astype(np.int64, copy=False)),
        instance_ptr=torch.from_numpy(instance_ptr),
        scene_ids=tuple(s.scene_id for s in samples),
        superpoints=superpoints,
    )


def seeded_generator(seed: int, epoch: int = 0) -> torch.Generator:
    """A CPU torch generator for ``DataLoader(generator=...)``, fixed by ``(seed, epoch)``.

    The loader draws the shuffling order and its workers' base seed from it. Building the
    loader each epoch with ``seeded_generator(seed, epoch)`` makes epoch ``e``'s order depend on
    ``(seed, e)`` only, so a run resumed at epoch ``e`` sees the same order as an uninterrupted
    one (a single generator kept across epochs would need its state saved instead).

    Args:
        seed: the run's seed (>= 0).
        epoch: the epoch (>= 0).

    Returns:
        A generator seeded with 63 bits derived from ``SeedSequence([seed, epoch])``.
    """
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1, dtype=np.uint64)
    generator = torch.Generator()
    generator.manual_seed(int(state[0]) >> 1)
    return generator


def worker_init_fn(worker_id: int) -> None:
    """``DataLoader`` worker initialiser: seed the global random states, one thread per worker.

    Torch gives each worker ``torch.initial_seed() == base_seed + worker_id``, with
    ``base_seed`` drawn from the loader's generator; this seeds Python's ``random`` and numpy's
    legacy global state from it (which torch leaves alone). dknet's own augmentation uses
    per-item generators instead and does not depend on this. Workers also run
    ``torch.set_num_threads(1)``: several workers each spawning a full thread pool would
    oversubscribe the cores.

    Args:
        worker_id: the worker's index (unused beyond torch's own seed).
    """
    del worker_id  # already folded into torch.initial_seed()
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)  # the legacy global state, which stray code uses
    torch.set_num_threads(1)
