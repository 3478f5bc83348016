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
