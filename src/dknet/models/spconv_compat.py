"""Run spconv-cu118 on a CPU-only torch, in one place.

The spconv-cu118 wheel carries CUDA kernels (sm_90 included) *and* a native CPU path. On a torch
build without CUDA two things are needed:

* every convolution is built with ``algo=ConvAlgo.Native`` (the implicit-GEMM algorithms have
  no CPU kernels);
* spconv asks torch for the current CUDA stream in some backward paths (its Python fallback for
  ``indice_conv_backward`` does so unconditionally), which fails on a CPU-only torch. The shim
  returns stream 0 (meaning "no stream", which spconv's CPU kernels ignore) whenever CUDA is not
  available, and the real stream otherwise.

The CPU-only ``spconv`` wheel is deliberately not used: its CPU scatter races with more than one
thread and returns wrong results.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from typing import Any

import torch

from dknet.errors import DKNetError

__all__ = [
    "SPCONV_DISTRIBUTION",
    "ensure_spconv_compat",
    "conv_algo",
    "spconv_mode",
    "spconv_version",
]

logger = logging.getLogger(__name__)

SPCONV_DISTRIBUTION = "spconv-cu118"


def _stream_or_zero() -> int:
    """The current CUDA stream handle, or 0 when torch has no usable CUDA."""
    if torch.cuda.is_available():
        return int(torch.cuda.current_stream().cuda_stream)
    return 0


@functools.cache
def ensure_spconv_compat() -> Any:
    """Import ``spconv.pytorch`` and install the CPU stream shim (idempotent).

    Returns:
        The ``spconv.pytorch`` module.

    Raises:
        DKNetError: spconv-cu118 is not installed or cannot be imported.
    """
    try:
        import spconv.pytorch as spconv_pytorch
        from spconv.pytorch import cppcore, ops
    except ImportError as exc:
        raise DKNetError(
            f"spconv cannot be imported ({exc})",
            hint=f"pip install {SPCONV_DISTRIBUTION}  (then run `dknet doctor`)",
        ) from exc
    # Patch the function where it is defined and where spconv's op module bound it by name.
    cppcore.get_current_stream = _stream_or_zero
    ops.get_current_stream = _stream_or_zero
    try:
        from spconv.pytorch import hash as spconv_hash

        spconv_hash.get_current_stream = _stream_or_zero
    except ImportError:  # older spconv releases have no hash module
        pass
    logger.debug("spconv CPU compatibility shim installed (cuda=%s)", torch.cuda.is_available())
    return spconv_pytorch


def conv_algo(device: torch.device | str | None = None) -> Any:
    """The spconv convolution algorithm to build layers with.

    ``ConvAlgo.Native`` on CPU (the only algorithm with CPU kernels). On CUDA, spconv's default
    ``ConvAlgo.MaskImplicitGemm``. The weight layout is the same for both, so checkpoints move
    freely between CPU and GPU.

    Args:
        device: the device the model will run on; None means CUDA when available.
    """
    ensure_spconv_compat()
    from spconv.core import ConvAlgo

    if device is None:
        on_cuda = torch.cuda.is_available()
    else:
        on_cuda = torch.device(device).type == "cuda"
    return ConvAlgo.MaskImplicitGemm if on_cuda else ConvAlgo.Native


def spconv_version() -> str | None:
    """The installed spconv-cu118 version, or None when it is not installed."""
    try:
        return importlib.metadata.version(SPCONV_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def spconv_mode() -> str:
    """Return "gpu" when torch sees a CUDA device, else "cpu" (Native algorithm + stream shim)."""
    return "gpu" if torch.cuda.is_available() else "cpu"
