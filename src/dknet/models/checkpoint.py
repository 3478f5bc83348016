"""Load and save DKNet weights: dknet's own checkpoints and the authors' ``checkpoint.pth``.

A dknet checkpoint is a dict of plain data and tensors (loadable with ``weights_only=True``)::

    {"format": "dknet-checkpoint", "format_version": 1,
     "dknet_version": ..., "torch_version": ..., "spconv_version": ...,
     "spconv_weight_layout": "KRSC", "model_config": {...}, "model": state_dict, ...}

Training adds optimizer, scheduler, RNG and progress entries beside these.

The authors' file (W1zheng/DKNet) is ``{"model": state_dict, "optimizer": ...}`` with AdamW
moments saved on CUDA. :func:`load_checkpoint` accepts it as it is:

* loaded with ``map_location`` (CPU by default) and ``weights_only=True``;
* a ``module.`` prefix (DistributedDataParallel) is stripped when every key carries it;
* spconv weights in the pre-2.2 layout ``[kx, ky, kz, out, in]`` are recognised by shape and
  permuted to today's ``[out, kx, ky, kz, in]`` (no DKNet channel count equals a kernel size,
  so the shapes are never ambiguous);
* the never-used modules ``recall_linear`` and ``semantic_branch`` are kept in the model (so the
  file loads with ``strict=True``); a file without them loads too, leaving them at their
  initial values, which changes no output;
* the model configuration is read off the tensor shapes (width, levels, blocks per level,
  classes, decoder size), so a re-trained authors' model of another width loads as well.

Anything else that does not fit raises :class:`~dknet.errors.CheckpointError` naming the first
few mismatching keys.
"""

from __future__ import annotations

import io
import logging
import lzma
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from dknet import __version__
from dknet.errors import CheckpointError, ConfigError
from dknet.io.atomic import atomic_path
from dknet.models.config import ModelConfig

__all__ = [
    "CHECKPOINT_FORMAT",
    "UNUSED_MODULES",
    "checkpoint_metadata",
    "load_checkpoint",
    "load_state",
    "model_state_dict",
    "read_checkpoint",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "dknet-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
#: Modules of the authors' model that no forward pass calls.
UNUSED_MODULES = ("recall_linear", "semantic_branch")
_MAX_LISTED = 5
#: The first bytes of an xz stream: such checkpoints are decompressed in memory when read.
XZ_MAGIC = b"\xfd7zXZ\x00"


def _open_payload(path: Path) -> Path | io.BytesIO:
    """``path`` itself, or its decompressed bytes when it is xz-compressed."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(len(XZ_MAGIC))
            if magic != XZ_MAGIC:
                return path
            handle.seek(0)
            return io.BytesIO(lzma.decompress(handle.read()))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (lzma.LZMAError, EOFError) as exc:
        raise CheckpointError(
            f"{path}: a damaged xz-compressed checkpoint ({exc})",
            hint="the file may be truncated; re-download or re-train it",
        ) from None


def read_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with every failure turned into one clear line.

    A file compressed with xz (as :func:`save_checkpoint` writes paths ending in ``.xz``, or
    ``xz file.pth``) is decompressed in memory first.

    Raises:
        CheckpointError: missing, unreadable, truncated, or not a tensor dict.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(_open_payload(path), map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError) as exc:
        text = str(exc).strip()
        if "Unsupported global" in text:
            raise CheckpointError(
                f"{path}: holds Python objects besides tensors and plain data; dknet loads "
                "checkpoints with weights_only=True and does not unpickle arbitrary objects",
                hint="re-save the file as a plain dict of tensors",
            ) from None
        if "Weights only load failed" in text:
            first = "corrupt, or not a file written by torch.save"
        else:
            first = text.splitlines()[0] if text else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({first[:200]})",
            hint="the file may be truncated or not a .pth file; re-download or re-train it",
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, found {type(data).__name__}")
    return data


def model_state_dict(data: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """The model tensors of a loaded checkpoint (dknet's or the authors'), ``module.`` removed.

    Raises:
        CheckpointError: there are none.
    """
    state = data.get("model", data) if isinstance(data.get("model"), dict) else data
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: holds no model weights (no tensors under 'model')")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def infer_config(state: dict[str, torch.Tensor], path: Path | None = None) -> ModelConfig:
    """The :class:`ModelConfig` whose tensor shapes match an authors'-format state dict."""
    where = f"{path}: " if path else ""
    try:
        conv = state["input_conv.0.weight"]
        width = int(conv.shape[0]) if conv.shape[0] != 3 else int(conv.shape[3])
        in_channels = int(conv.shape[-1])
        levels = 1 + max(
            len(re.findall(r"(?:^|\.)u(?=\.)", k)) for k in state if k.startswith("unet.")
        )
        blocks = len(
            {m.group(1) for k in state if (m := re.match(r"unet\.blocks\.block(\d+)\.", k))}
        )
        num_classes = int(state["linear.6.weight"].shape[0])
        embed = int(state["mask_branch.3.weight"].shape[0])
        params = int(state["weight_generator.controller.weight"].shape[0])
    except (KeyError, IndexError, ValueError) as exc:
        raise CheckpointError(
            f"{where}not a DKNet state dict (missing or malformed {exc})"
        ) from None
    hidden = (params - 1) // (embed + 3 + 1 + 1)  # [hidden, 1]: (e+3)h + h + h + 1
    shape: tuple[int, ...] = (hidden, 1)
    try:
        config = ModelConfig(
            width=width,
            levels=levels,
            blocks_per_level=max(blocks, 1),
            in_channels=in_channels,
            num_classes=num_classes,
            embed_dim=embed,
            decoder_shape=shape,
        )
    except ConfigError as exc:
        raise CheckpointError(f"{where}weights imply an invalid configuration: {exc}") from None
    if config.decoder_params != params:
        raise CheckpointError(
            f"{where}weight generator emits {params} numbers, which fits no [hidden, 1] decoder"
        )
    return config


def _convert_layout(
    state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Permute pre-spconv-2.2 ``[k, k, k, out, in]`` conv weights to ``[out, k, k, k, in]``."""
    converted = dict(state)
    count = 0
    for key, value in state.items():
        target = expected.get(key)
        if target is None or value.dim() != 5 or value.shape == target.shape:
            continue
        permuted = value.permute(3, 0, 1, 2, 4)
        if permuted.shape == target.shape:
            converted[key] = permuted.contiguous()
            count += 1
    if count:
        logger.info("converted %d spconv weights from the pre-2.2 [k,k,k,out,in] layout", count)
    return converted


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Load ``state`` into ``model`` strictly, converting layouts and dtypes as documented.

    Raises:
        CheckpointError: keys or shapes that do not fit, the first few named.
    """
    expected = model.state_dict()
    state = _convert_layout(state, expected)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    tolerated = [k for k in missing if k.split(".")[0] in UNUSED_MODULES]
    missing = [k for k in missing if k not in tolerated]
    wrong = [
        f"{k} {tuple(state[k].shape)} (model {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = (
        [f"missing {k}" for k in missing]
        + [f"unexpected {k}" for k in unexpected]
        + [f"shape {w}" for w in wrong]
    )
    if problems:
        more = f" (and {len(problems) - _MAX_LISTED} more)" if len(problems) > _MAX_LISTED else ""
        raise CheckpointError(
            f"{source}: weights do not fit the model: {'; '.join(problems[:_MAX_LISTED])}{more}",
            hint="was it trained with another model configuration?",
        )
    if tolerated:
        logger.info(
            "%s: no weights for the unused modules %s; they keep their initial values",
            source,
            ", ".join(sorted({k.split(".")[0] for k in tolerated})),
        )
    cast = {k: (v.to(expected[k].dtype) if v.is_floating_point() else v) for k, v in state.items()}
    model.load_state_dict(cast, strict=not tolerated)


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """A :class:`~dknet.models.DKNet` with the weights of ``path`` (dknet's or the authors').

    Args:
        path: a dknet checkpoint, or the authors' ``checkpoint.pth`` as they released it.
        map_location: where tensors are loaded (default CPU; the authors' optimizer moments
            were saved on CUDA and are ignored).

    Returns:
        The model, in eval mode, on ``map_location``'s device when that names a device.

    Raises:
        CheckpointError: unreadable file, or weights that fit no DKNet.
    """
    from dknet.models.dknet import DKNet

    path = Path(path)
    data = read_checkpoint(path, map_location=map_location)
    state = model_state_dict(data, path)
    if data.get("format") == CHECKPOINT_FORMAT:
        try:
            config = ModelConfig.from_dict(dict(data["model_config"]))
        except (KeyError, TypeError, ConfigError) as exc:
            raise CheckpointError(f"{path}: malformed model_config ({exc})") from None
    else:
        config = infer_config(state, path)
        logger.info("%s: authors'-format weights, configuration read off the shapes", path)
    model = DKNet(config)
    load_state(model, state, source=str(path))
    model.eval()
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    return model


def checkpoint_metadata(config: ModelConfig) -> dict[str, Any]:
    """The self-describing header of a dknet checkpoint."""
    from dknet.models.spconv_compat import spconv_version

    return {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "dknet_version": __version__,
        "torch_version": str(torch.__version__),
        "spconv_version": spconv_version(),
        "spconv_weight_layout": "KRSC",
        "model_config": config.to_dict(),
    }


def save_checkpoint(
    path: str | os.PathLike[str],
    model: torch.nn.Module,
    *,
    extra: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write ``model`` (a DKNet, possibly wrapped by DDP) atomically as a dknet checkpoint.

    Args:
        path: destination; written to a temporary file beside it, then renamed.
        model: the model.
        extra: further plain-data entries (optimizer state, progress, RNG states, ...).
        half: store floating-point weights as float16 (for the bundled model); they are
            loaded back as float32.

    A ``path`` ending in ``.xz`` is written xz-compressed (:func:`read_checkpoint` reads both).
    """
    inner: Any = getattr(model, "module", model)
    state = {k: v.detach().cpu() for k, v in inner.state_dict().items()}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    payload = checkpoint_metadata(inner.config)
    payload["model"] = state
    payload.update(extra or {})
    with atomic_path(path) as tmp:
        if Path(path).suffix == ".xz":
            buffer = io.BytesIO()
            torch.save(payload, buffer)
            tmp.write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
        else:
            torch.save(payload, tmp)
    return Path(path)
