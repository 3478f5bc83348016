"""Dataset preparation and loading: preprocessing, the training dataset, augmentation, collation.

Submodules are imported on use (``from dknet.data.preprocess import preprocess_dataset``) so
that importing :mod:`dknet.data` stays cheap; the names below are resolved lazily, so
``from dknet.data import SceneDataset`` imports torch only then.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dknet.data.collate import collate_scenes, seeded_generator, worker_init_fn
    from dknet.data.dataset import SceneDataset
    from dknet.data.transforms import SceneArrays, SceneSample, TrainAugmentation

__all__ = [
    "SceneDataset",
    "TrainAugmentation",
    "SceneArrays",
    "SceneSample",
    "collate_scenes",
    "seeded_generator",
    "worker_init_fn",
]

_LAZY = {
    "SceneDataset": "dknet.data.dataset",
    "TrainAugmentation": "dknet.data.transforms",
    "SceneArrays": "dknet.data.transforms",
    "SceneSample": "dknet.data.transforms",
    "collate_scenes": "dknet.data.collate",
    "seeded_generator": "dknet.data.collate",
    "worker_init_fn": "dknet.data.collate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
