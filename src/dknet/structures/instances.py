"""Predicted instances of one scene: binary masks, nyu40 labels and confidences (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from dknet.errors import InvalidPredictionError

__all__ = ["InstanceIndex", "Instances"]

#: What ``Instances[...]`` accepts: an int, a slice, or a (K,) bool / integer index array.
InstanceIndex = Union[int, slice, np.ndarray, "list[int]", "list[bool]"]


@dataclass(frozen=True, eq=False)
class Instances:
    """K predicted instances over the N points (mesh vertices) of one scene.

    The fields have equal length K (detectron2-style): indexing with an int, a slice, a (K,) bool
    mask or a (K,) integer array selects the same instances from every field and returns a new
    ``Instances`` (an int keeps the leading axis, so the result always holds masks of shape
    (k, N)). The arrays are not copied unless their dtype has to change.

    Labels are nyu40 ids rather than class indices, so that a prediction whose label is not one
    of the 18 benchmark instance classes can still be represented; the evaluator drops such
    instances exactly as the benchmark does, and the submission writer leaves them out.

    Attributes:
        masks: (K, N) bool, True where point n belongs to instance k.
        labels: (K,) int64, nyu40 class id of each instance.
        scores: (K,) float32, confidence of each instance, finite and in [0, 1].

    Raises:
        InvalidPredictionError: shapes disagree, ``masks`` is not 2-D, ``labels`` are not
            integers, or a score is non-finite or outside [0, 1].
    """

    masks: np.ndarray
    labels: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        masks = np.asarray(self.masks)
        if masks.ndim != 2:
            raise InvalidPredictionError(f"Instances.masks must be (K, N), got shape {masks.shape}")
        if masks.dtype != np.bool_:
            masks = masks != 0
        labels = np.asarray(self.labels)
        if labels.size == 0:
            labels = np.zeros(0, dtype=np.int64)
        elif not np.issubdtype(labels.dtype, np.integer):
            raise InvalidPredictionError(
                f"Instances.labels must be integer nyu40 ids, got dtype {labels.dtype}"
            )
        labels = labels.astype(np.int64, copy=False)
        scores = np.asarray(self.scores, dtype=np.float32)
        k = masks.shape[0]
        if labels.shape != (k,) or scores.shape != (k,):
            raise InvalidPredictionError(
                f"Instances fields disagree: masks {masks.shape}, labels {labels.shape}, "
                f"scores {scores.shape} (expected ({k},) labels and scores)"
            )
        if k and not (np.all(np.isfinite(scores)) and scores.min() >= 0.0 and scores.max() <= 1.0):
            bad = int(np.flatnonzero(~(np.isfinite(scores) & (scores >= 0) & (scores <= 1)))[0])
            raise InvalidPredictionError(
                f"Instances.scores must be finite and in [0, 1]; instance {bad} has "
                f"{float(scores[bad])!r}"
            )
        object.__setattr__(self, "masks", masks)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "scores", scores)

    @classmethod
    def empty(cls, num_points: int) -> Instances:
        """No instances over ``num_points`` points: masks (0, N) bool, labels/scores (0,)."""
        return cls(
            masks=np.zeros((0, num_points), dtype=bool),
            labels=np.zeros(0, dtype=np.int64),
            scores=np.zeros(0, dtype=np.float32),
        )

    @property
    def num_points(self) -> int:
        """Number of points N each mask covers."""
        return int(self.masks.shape[1])

    def __len__(self) -> int:
        """Number of instances K."""
        return int(self.masks.shape[0])

    def __getitem__(self, index: InstanceIndex) -> Instances:
        """Select instances from every field at once (see the class docstring)."""
        if isinstance(index, (int, np.integer)):
            k = len(self)
            position = int(index)
            if not -k <= position < k:
                raise IndexError(f"instance index {position} out of range for {k} instances")
            index = slice(position, position + 1 if position != -1 else None)
        elif not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype == np.bool_ and index.shape != (len(self),):
                raise IndexError(f"boolean index must have shape ({len(self)},), got {index.shape}")
            if index.dtype != np.bool_:
                if index.size == 0:
                    index = index.astype(np.int64)
                elif not np.issubdtype(index.dtype, np.integer):
                    raise IndexError(f"instance index must be bool or integer, got {index.dtype}")
        return Instances(
            masks=self.masks[index], labels=self.labels[index], scores=self.scores[index]
        )

    def __repr__(self) -> str:
        return f"Instances(num_instances={len(self)}, num_points={self.num_points})"
