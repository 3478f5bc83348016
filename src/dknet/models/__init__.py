"""The DKNet network, its losses and checkpoint loading.

This package is the only place in dknet that imports spconv, and it does so lazily: importing
it is cheap; building a model imports spconv-cu118 (about 6 s the first time in a process).

Public API:

* :class:`ModelConfig` (``ModelConfig.paper()``, ``ModelConfig.cpu()``);
* :class:`DKNet` (an ``nn.Module``: ``model(batch, stage=...)`` -> losses,
  ``model.predict(batch)`` -> one :class:`ScenePrediction` per scene);
* :func:`load_checkpoint` (dknet's own files and the authors' ``checkpoint.pth``) and
  :func:`save_checkpoint`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dknet.models.checkpoint import load_checkpoint, save_checkpoint
    from dknet.models.config import ModelConfig
    from dknet.models.dknet import STAGES, DKNet, ForwardState
    from dknet.models.postprocess import ScenePrediction

__all__ = [
    "DKNet",
    "ForwardState",
    "ModelConfig",
    "STAGES",
    "ScenePrediction",
    "load_checkpoint",
    "save_checkpoint",
]

# Resolved on first use, so that ``from dknet.models.config import ModelConfig`` (and config
# files that mirror it) do not import torch.
_LAZY = {
    "DKNet": "dknet.models.dknet",
    "ForwardState": "dknet.models.dknet",
    "STAGES": "dknet.models.dknet",
    "ModelConfig": "dknet.models.config",
    "ScenePrediction": "dknet.models.postprocess",
    "load_checkpoint": "dknet.models.checkpoint",
    "save_checkpoint": "dknet.models.checkpoint",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dknet.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
