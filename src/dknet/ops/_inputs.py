"""Validation, backend dispatch and torch <-> numpy conversion shared by the public ops.

Checks are cheap on purpose (shapes, dtypes, the ``ptr`` boundaries and scalar parameters); the
only data-dependent reads are the ``ptr`` tensor itself and, where an op cannot give a
meaningful answer without it, one finiteness flag. A non-tensor argument raises ``TypeError``,
shape and dtype problems raise ``ValueError``, and bad parameter values raise
:class:`dknet.errors.ConfigError` (they usually come from a configuration file).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from dknet.errors import ConfigError

__all__ = [
    "all_finite",
    "as_numpy",
    "check_float_tensor",
    "check_int_tensor",
    "check_ptr",
    "check_same_device",
    "finite_float",
    "float32_value",
    "from_numpy",
    "positive_int",
    "select_backend",
]


def select_backend(op: str, device: torch.device) -> Literal["ext", "numba"]:
    """Backend for ``op`` on ``device``, as decided by :mod:`dknet.ops._backend`.

    The import happens here, on first use, so that importing :mod:`dknet.ops` never touches
    the compiled extension.
    """
    from dknet.ops import _backend

    return _backend.select_backend(op, device)


def _shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


def check_float_tensor(
    value: object, name: str, op: str, shape: Sequence[int | None]
) -> torch.Tensor:
    """Check that ``value`` is a floating-point tensor of the given shape (None = any size).

    Raises:
        TypeError: not a tensor.
        ValueError: not floating point, or the wrong shape.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise ValueError(f"{op}: {name} must be a floating-point tensor, got {value.dtype}")
    _check_shape(value, name, op, shape)
    return value


def check_int_tensor(
    value: object, name: str, op: str, shape: Sequence[int | None]
) -> torch.Tensor:
    """Check that ``value`` is an integer (not bool) tensor of the given shape.

    Raises:
        TypeError: not a tensor.
        ValueError: not an integer dtype, or the wrong shape.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(value).__name__}")
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise ValueError(f"{op}: {name} must be an integer tensor, got {value.dtype}")
    _check_shape(value, name, op, shape)
    return value


def _check_shape(value: torch.Tensor, name: str, op: str, shape: Sequence[int | None]) -> None:
    ok = value.dim() == len(shape) and all(
        s is None or s == d for s, d in zip(shape, value.shape, strict=True)
    )
    if not ok:
        raise ValueError(
            f"{op}: {name} must have shape {_shape_text(shape)}, got {tuple(value.shape)}"
        )


def check_same_device(op: str, reference: torch.Tensor, **others: torch.Tensor) -> None:
    """Raise ``ValueError`` unless every tensor in ``others`` lives on ``reference``'s device."""
    for name, tensor in others.items():
        if tensor.device != reference.device:
            raise ValueError(
                f"{op}: {name} is on {tensor.device} but the data is on {reference.device}; "
                "move them to one device"
            )


def check_ptr(ptr: object, total: int, name: str, op: str) -> np.ndarray:
    """Validate a CSR boundary tensor and return it as a host int64 array.

    Args:
        ptr: (B+1,) integer tensor, any device; read once (one device sync on CUDA).
        total: the number of packed rows it must end at.
        name: argument name for messages.
        op: op name for messages.

    Returns:
        (B+1,) int64 numpy array, C-contiguous.

    Raises:
        ValueError: wrong dtype or shape, not starting at 0, decreasing, or not ending at total.
    """
    ptr_t = check_int_tensor(ptr, name, op, (None,))
    if ptr_t.shape[0] < 1:
        raise ValueError(f"{op}: {name} must have B+1 >= 1 entries, got an empty tensor")
    host = np.ascontiguousarray(ptr_t.detach().cpu().numpy(), dtype=np.int64)
    if host[0] != 0:
        raise ValueError(f"{op}: {name}[0] must be 0, got {int(host[0])}")
    if host.shape[0] > 1 and bool(np.any(host[1:] < host[:-1])):
        bad = int(np.argmax(host[1:] < host[:-1]))
        raise ValueError(
            f"{op}: {name} must be non-decreasing, but {name}[{bad + 1}] = {int(host[bad + 1])} "
            f"< {name}[{bad}] = {int(host[bad])}"
        )
    if host[-1] != total:
        raise ValueError(f"{op}: {name}[-1] must equal {total} (rows given), got {int(host[-1])}")
    return host


def finite_float(
    value: object,
    name: str,
    op: str,
    *,
    minimum: float | None = None,
    strictly_positive: bool = False,
) -> float:
    """Check a scalar parameter and return it as a Python float.

    Raises:
        ConfigError: not a real number, not finite, not > 0 (``strictly_positive``) or below
            ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ConfigError(f"{op}: {name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f"{op}: {name} must be finite, got {number}")
    if strictly_positive and not number > 0:
        raise ConfigError(f"{op}: {name} must be > 0, got {number}")
    if minimum is not None and number < minimum:
        raise ConfigError(f"{op}: {name} must be >= {minimum}, got {number}")
    return number


def float32_value(value: float) -> float:
    """``value`` rounded to the nearest float32, returned as a Python float.

    Both backends receive parameters already rounded, so comparing a float32 array against them
    in float32 or in float64 gives the same answer.
    """
    return float(np.float32(value))


def positive_int(value: object, name: str, op: str, *, maximum: int | None = None) -> int:
    """Check an integer parameter >= 1 (and <= ``maximum``) and return it.

    Raises:
        ConfigError: not an integer, < 1, or above ``maximum``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{op}: {name} must be an integer, got {value!r}")
    number = int(value)
    if number < 1:
        raise ConfigError(f"{op}: {name} must be >= 1, got {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{op}: {name} must be <= {maximum}, got {number}")
    return number


def all_finite(*tensors: torch.Tensor) -> bool:
    """Whether every element of every tensor is finite (one host sync per call on CUDA).

    CPU tensors are checked through numpy, single-threaded and without spawning torch's
    intra-op threads, which is several times faster for the sizes ops see.
    """
    if all(t.device.type == "cpu" for t in tensors):
        return all(bool(np.isfinite(t.detach().numpy()).all()) for t in tensors)
    flags = [torch.isfinite(t).all() for t in tensors]
    return bool(torch.stack(flags).all())


def as_numpy(tensor: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """Contiguous host numpy view (or copy, if needed) of ``tensor`` with the given dtype."""
    return tensor.detach().to(device="cpu", dtype=dtype).contiguous().numpy()


def from_numpy(arrays: Sequence[np.ndarray], device: torch.device) -> tuple[torch.Tensor, ...]:
    """Wrap kernel outputs as tensors on ``device`` (no copy on CPU)."""
    return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in arrays)
