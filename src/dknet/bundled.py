"""What ships inside the package: the default model and an example scene.

* ``dknet/assets/dknet-default.pth.xz``: dknet's default model, a CPU-sized DKNet trained on
  scan-like ``dknet synth`` rooms by ``scripts/train_default_model.sh`` and stored as float16
  weights (``docs/MODEL_CARD.md`` says what it knows and how well).
* ``dknet/assets/dknet-default.json``: its description: SHA-256 of the weights, model
  configuration, training recipe, and its scores on rooms from seeds never used in training.
* ``dknet/assets/example_room.ply``: a synthetic scan (a mesh with colours) from one of those
  unseen seeds, for ``dknet predict --example``.

``dknet predict``, ``evaluate``, ``export-submission`` and ``timing`` use the default model when
no ``--checkpoint`` is given. The weights' checksum is verified before every use, so a damaged
or replaced file fails with one clear line instead of predicting nonsense.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from dknet.errors import CheckpointError, DKNetError

__all__ = [
    "DEFAULT_MODEL_FILE",
    "DEFAULT_MODEL_INFO",
    "EXAMPLE_SCENE",
    "BundledModel",
    "assets_dir",
    "default_model",
    "example_scene",
    "file_sha256",
]

logger = logging.getLogger(__name__)

DEFAULT_MODEL_FILE = "dknet-default.pth.xz"
DEFAULT_MODEL_INFO = "dknet-default.json"
EXAMPLE_SCENE = "example_room.ply"

_REINSTALL = "reinstall dknet (pip install --force-reinstall --no-deps dknet), or pass --checkpoint"


@dataclass(frozen=True)
class BundledModel:
    """The default model's files and description.

    Attributes:
        path: the weights (an xz-compressed dknet checkpoint with float16 tensors).
        info: the parsed ``dknet-default.json`` (``sha256``, ``model_config``, ``training``,
            ``unseen_scores``, ...).
    """

    path: Path
    info: dict[str, Any]

    @property
    def sha256(self) -> str:
        """The weights' SHA-256 as recorded when the model was bundled."""
        return str(self.info["sha256"])


def assets_dir() -> Path:
    """The package's ``assets`` folder."""
    return Path(str(resources.files("dknet") / "assets"))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_model(*, verify: bool = True) -> BundledModel:
    """The bundled default model, its checksum verified.

    Args:
        verify: compare the weights' SHA-256 with the recorded one.

    Raises:
        CheckpointError: the model or its description is missing or unreadable, or the
            weights do not match their checksum.
    """
    folder = assets_dir()
    weights = folder / DEFAULT_MODEL_FILE
    described = folder / DEFAULT_MODEL_INFO
    if not weights.is_file() or not described.is_file():
        missing = weights if not weights.is_file() else described
        raise CheckpointError(f"{missing}: the bundled default model is missing", hint=_REINSTALL)
    try:
        info = json.loads(described.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{described}: unreadable ({exc})", hint=_REINSTALL) from None
    if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
        raise CheckpointError(f"{described}: no sha256 recorded", hint=_REINSTALL)
    model = BundledModel(path=weights, info=info)
    if verify:
        actual = file_sha256(weights)
        if actual != model.sha256:
            raise CheckpointError(
                f"{weights}: damaged bundled model (sha256 {actual[:12]}..., expected "
                f"{model.sha256[:12]}...)",
                hint=_REINSTALL,
            )
    return model


def example_scene() -> Path:
    """The bundled example scan (a coloured ``.ply`` mesh).

    Raises:
        DKNetError: the file is missing from the installation.
    """
    path = assets_dir() / EXAMPLE_SCENE
    if not path.is_file():
        raise DKNetError(f"{path}: the bundled example scene is missing", hint=_REINSTALL)
    return path
