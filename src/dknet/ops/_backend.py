"""Which implementation an op runs on: the compiled CUDA extension or Numba.

This is the only module that touches :mod:`dknet._ext`. The extension ``dknet._ext._C`` is
imported lazily, once (:func:`extension_status` is cached), on the first op call that could use
it, never at ``import dknet`` or ``import dknet.ops``. A failure to load it is sorted into one
kind, each with a one-line message and a fix:

``not_built``
    there is no compiled module (``No module named ...``), or it was built without CUDA.
``abi_mismatch``
    it was built against another torch (``undefined symbol`` from the dynamic loader).
``cuda_mismatch``
    its CUDA major version (``build_info()``) differs from ``torch.version.cuda``, or the CUDA
    runtime library it was linked with is missing.
``no_cuda_runtime``
    torch is a CPU-only build, or torch sees no CUDA driver / device.
``error``
    anything else; the message carries the exception text.

The backend is picked per call from ``DKNET_OPS_BACKEND`` (read at every call):

``auto`` (default)
    CUDA tensors use the extension when it is available, everything else runs on Numba; a CUDA
    tensor that falls back to Numba is logged once per op at INFO.
``ext``
    the extension or an error: :class:`~dknet.errors.ExtensionNotAvailableError` with the
    classified cause and fix when it cannot be loaded, :class:`~dknet.errors.ConfigError` for a
    CPU tensor (the extension has CUDA kernels only). CI sets it so a missing build fails.
``numba``
    always Numba (debugging, parity checks).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import torch

from dknet.errors import ConfigError, ExtensionNotAvailableError

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "OPS",
    "ExtensionStatus",
    "extension_status",
    "planned_backends",
    "requested_backend",
    "select_backend",
    "used_backends",
    "reset_used_backends",
]

logger = logging.getLogger(__name__)

OPS: tuple[str, ...] = ("voxelize", "mine_candidates", "merge_candidates", "otsu_thresholds")
"""Names of the ops both backends implement (``torch.ops.dknet.<name>``)."""

BACKENDS: tuple[str, ...] = ("auto", "ext", "numba")
"""Values ``DKNET_OPS_BACKEND`` accepts."""

ENV_VAR = "DKNET_OPS_BACKEND"
EXTENSION_MODULE = "dknet._ext._C"

ExtensionKind = Literal[
    "ok", "not_built", "abi_mismatch", "cuda_mismatch", "no_cuda_runtime", "error"
]

_REBUILD = (
    "FORCE_CUDA=1 pip install --no-build-isolation --force-reinstall --no-deps . "
    "(from the dknet source folder)"
)
_FIXES: dict[str, str] = {
    "ok": "",
    "not_built": (
        "build it with `FORCE_CUDA=1 pip install --no-build-isolation .` (needs nvcc and a CUDA "
        "build of torch), or set DKNET_OPS_BACKEND=numba"
    ),
    "abi_mismatch": f"rebuild it against the installed torch: `{_REBUILD}`",
    "cuda_mismatch": (
        "rebuild it with the CUDA toolkit that matches torch.version.cuda (set CUDA_HOME): "
        f"`{_REBUILD}`, or set DKNET_OPS_BACKEND=numba"
    ),
    "no_cuda_runtime": (
        "install a CUDA build of torch and check `nvidia-smi`, or run on the CPU with "
        "DKNET_OPS_BACKEND=auto (or numba)"
    ),
    "error": f"rebuild the extension (`{_REBUILD}`) and run `dknet doctor`; "
    "DKNET_OPS_BACKEND=numba avoids it meanwhile",
}

# Ops whose CUDA-tensor fallback to Numba has been logged in this process.
_fallback_logged: set[str] = set()
#: op -> backend of its latest call (read by ``dknet timing``).
_used: dict[str, str] = {}


@dataclass(frozen=True)
class ExtensionStatus:
    """Outcome of loading ``dknet._ext._C``.

    Attributes:
        available: the extension loaded and its CUDA kernels can run here.
        kind: ``"ok"``, ``"not_built"``, ``"abi_mismatch"``, ``"cuda_mismatch"``,
            ``"no_cuda_runtime"`` or ``"error"``.
        message: one line saying what was found.
        fix: what to do about it (empty when ``kind == "ok"``).
        build_info: the extension's ``build_info()`` (compiler, CUDA / torch versions it was
            built with, ``with_cuda``, ``cuda_arch_list``) when it could be imported, else None.
    """

    available: bool
    kind: ExtensionKind
    message: str
    fix: str
    build_info: dict[str, Any] | None


def _import_extension() -> ModuleType:
    """Import the compiled module (separate so tests can simulate import failures)."""
    return importlib.import_module(EXTENSION_MODULE)


def _torch_cuda_version() -> str | None:
    """CUDA version torch was built with (``None`` for a CPU-only torch)."""
    return torch.version.cuda


def _cuda_available() -> bool:
    return torch.cuda.is_available()


def _missing_ops() -> list[str]:
    """Ops of :data:`OPS` the dispatcher does not know (the module registers them on import)."""
    missing = []
    for op in OPS:
        try:
            getattr(torch.ops.dknet, op)
        except (AttributeError, RuntimeError):
            missing.append(op)
    return missing


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _major(version: object) -> int | None:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return None


def _status(
    kind: ExtensionKind, message: str, build_info: dict[str, Any] | None = None
) -> ExtensionStatus:
    return ExtensionStatus(
        available=kind == "ok", kind=kind, message=message, fix=_FIXES[kind], build_info=build_info
    )


def _classify_import_error(exc: BaseException) -> ExtensionStatus:
    text = str(exc)
    if "No module named" in text:
        return _status("not_built", f"the CUDA extension {EXTENSION_MODULE} is not built")
    if "undefined symbol" in text:
        return _status(
            "abi_mismatch",
            f"{EXTENSION_MODULE} was built against another torch than torch "
            f"{torch.__version__} ({_one_line(exc)})",
        )
    if "cannot open shared object file" in text or "Library not loaded" in text:
        if _torch_cuda_version() is None:
            return _status(
                "no_cuda_runtime",
                f"torch {torch.__version__} is a CPU-only build but {EXTENSION_MODULE} needs "
                f"CUDA libraries ({_one_line(exc)})",
            )
        if "cudart" in text:
            return _status(
                "cuda_mismatch",
                f"{EXTENSION_MODULE} needs another CUDA runtime than torch's CUDA "
                f"{_torch_cuda_version()} ({_one_line(exc)})",
            )
    return _status("error", f"importing {EXTENSION_MODULE} failed ({_one_line(exc)})")


def _load() -> ExtensionStatus:
    try:
        module = _import_extension()
    except ImportError as exc:
        return _classify_import_error(exc)
    except Exception as exc:  # any import failure is reported, classified
        return _status("error", f"importing {EXTENSION_MODULE} failed ({_one_line(exc)})")
    try:
        info = dict(module.build_info())
    except Exception as exc:  # a stale or foreign build
        return _status("error", f"{EXTENSION_MODULE}.build_info() failed ({_one_line(exc)})")

    torch_cuda = _torch_cuda_version()
    if not info.get("with_cuda", False):
        return _status("not_built", f"{EXTENSION_MODULE} was built without CUDA support", info)
    if torch_cuda is None:
        return _status(
            "no_cuda_runtime",
            f"torch {torch.__version__} is a CPU-only build; the extension's CUDA kernels "
            "cannot run",
            info,
        )
    built_cuda = info.get("cuda_version")
    if _major(built_cuda) != _major(torch_cuda):
        return _status(
            "cuda_mismatch",
            f"{EXTENSION_MODULE} was built with CUDA {built_cuda} but torch {torch.__version__} "
            f"uses CUDA {torch_cuda}",
            info,
        )
    if not _cuda_available():
        return _status(
            "no_cuda_runtime",
            f"torch {torch.__version__} (CUDA {torch_cuda}) sees no CUDA driver or device",
            info,
        )
    missing = _missing_ops()
    if missing:
        return _status(
            "error",
            f"{EXTENSION_MODULE} loaded but registered no torch.ops.dknet.{missing[0]}",
            info,
        )
    return _status(
        "ok",
        f"{EXTENSION_MODULE} loaded (CUDA {built_cuda}, built with torch "
        f"{info.get('torch_version')}, archs {', '.join(info.get('cuda_arch_list', [])) or '?'})",
        info,
    )


@functools.cache
def extension_status() -> ExtensionStatus:
    """Load the extension on first call and report whether its CUDA kernels can be used.

    The result is cached for the life of the process (a failed shared-library load cannot be
    retried in the same process anyway).
    """
    status = _load()
    if status.available:
        logger.debug("%s", status.message)
    else:
        logger.debug("dknet CUDA extension unavailable (%s): %s", status.kind, status.message)
    return status


def requested_backend() -> Literal["auto", "ext", "numba"]:
    """The value of ``DKNET_OPS_BACKEND`` (``auto`` when unset or empty), read now.

    Raises:
        ConfigError: any other value.
    """
    raw = os.environ.get(ENV_VAR, "")
    value = raw.strip().lower() or "auto"
    if value == "auto":
        return "auto"
    if value == "ext":
        return "ext"
    if value == "numba":
        return "numba"
    raise ConfigError(
        f"{ENV_VAR}={raw!r} is not a backend; allowed values: {', '.join(BACKENDS)}",
        hint=f"unset {ENV_VAR} or set it to auto, ext or numba",
    )


def _check_op(op: str) -> None:
    if op not in OPS:
        raise ValueError(f"unknown dknet op {op!r}; the ops are {', '.join(OPS)}")


def select_backend(op: str, device: torch.device | str) -> Literal["ext", "numba"]:
    """Backend that runs ``op`` for inputs on ``device`` (reads ``DKNET_OPS_BACKEND`` now).

    Args:
        op: one of :data:`OPS`.
        device: device of the op's input tensors.

    Returns:
        ``"ext"`` (call ``torch.ops.dknet.<op>``) or ``"numba"``.

    Raises:
        ConfigError: invalid ``DKNET_OPS_BACKEND``, or ``ext`` requested for a CPU tensor.
        ExtensionNotAvailableError: ``ext`` requested but the extension cannot be used; the
            message names the kind of failure and the fix.
        ValueError: ``op`` is not one of :data:`OPS`.
    """
    _check_op(op)
    choice = _select_backend(op, torch.device(device))
    _used[op] = choice
    return choice


def used_backends() -> dict[str, str]:
    """The backend each op ran on at its latest call since :func:`reset_used_backends`."""
    return dict(_used)


def reset_used_backends() -> None:
    """Forget which backends ops ran on (``dknet timing`` calls this before measuring)."""
    _used.clear()


def _select_backend(op: str, device: torch.device) -> Literal["ext", "numba"]:
    mode = requested_backend()
    if mode == "numba":
        return "numba"
    if mode == "ext":
        status = extension_status()
        if not status.available:
            raise ExtensionNotAvailableError(
                f"{op}: {ENV_VAR}=ext but the CUDA extension is unavailable ({status.kind}): "
                f"{status.message}; fix: {status.fix}",
                hint=status.fix,
            )
        if device.type != "cuda":
            raise ConfigError(
                f"{op}: {ENV_VAR}=ext but the input is on {device}; the CUDA extension has no CPU "
                "kernels",
                hint=f"set {ENV_VAR}=auto (CPU tensors run on Numba) or {ENV_VAR}=numba",
            )
        return "ext"
    if device.type != "cuda":
        return "numba"
    status = extension_status()
    if status.available:
        return "ext"
    if op not in _fallback_logged:
        _fallback_logged.add(op)
        logger.info(
            "%s: CUDA input but the dknet CUDA extension is unavailable (%s: %s); running on "
            "Numba (CPU) instead. Fix: %s",
            op,
            status.kind,
            status.message,
            status.fix,
        )
    return "numba"


def planned_backends(device: torch.device | str) -> dict[str, str]:
    """Backend each op would use now for inputs on ``device`` (for ``dknet doctor``).

    Nothing is logged. Values are ``"ext"`` or ``"numba"``, or ``"unavailable (<reason>)"``
    where ``DKNET_OPS_BACKEND=ext`` cannot be honoured (the op would raise).

    Raises:
        ConfigError: invalid ``DKNET_OPS_BACKEND``.
    """
    device = torch.device(device)
    mode = requested_backend()
    plan: dict[str, str] = {}
    for op in OPS:
        if mode == "numba":
            plan[op] = "numba"
        elif mode == "auto":
            usable = device.type == "cuda" and extension_status().available
            plan[op] = "ext" if usable else "numba"
        elif not extension_status().available:
            plan[op] = f"unavailable ({extension_status().kind})"
        elif device.type != "cuda":
            plan[op] = f"unavailable (no CPU kernels for {device})"
        else:
            plan[op] = "ext"
    return plan


def _reset() -> None:
    """Forget the cached load result and the fallback log (tests only)."""
    extension_status.cache_clear()
    _fallback_logged.clear()
    _used.clear()
