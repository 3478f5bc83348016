"""The one place where dknet's Numba kernels are compiled.

Every kernel in :mod:`dknet.ops._numba` is decorated with :func:`jit`, so compilation options
are chosen once: ``nogil=True`` (callers may run ops from several Python threads),
``error_model="numpy"`` (no hidden zero-division branches in hot loops) and no ``fastmath``,
because the ops contract forbids re-association and fused multiply-adds (the CUDA kernels must
reproduce the same float32 distances bit for bit).

``cache=True`` is only switched on when Numba can actually write its cache. With a read-only
install and an unwritable home directory, ``cache=True`` makes the *decoration* (hence the import
of the kernel module) raise, so the helper checks first: the kernels' own ``__pycache__`` folder,
or the folder named by ``NUMBA_CACHE_DIR`` when that variable is set (Numba looks there first).
Without a writable cache the kernels still work; they are just compiled again in every process.

Numba keys each cached kernel on its own source file's timestamp only. A kernel that calls a
helper from another module (``_sort.sort_pairs``) keeps the helper's old machine code until its
own file changes, so after editing a shared helper during development, clear ``__pycache__``.
Installed packages are unaffected: an upgrade rewrites every file.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import numba

__all__ = ["cache_enabled", "dynamic_schedule", "jit"]

logger = logging.getLogger(__name__)

_F = TypeVar("_F", bound=Callable[..., Any])

_KERNEL_CACHE_DIR = Path(__file__).resolve().parent / "__pycache__"

# Numba parallel options: explicit prange loops only.
_PRANGE_ONLY = {
    "prange": True,
    "numpy": False,
    "comprehension": False,
    "reduction": False,
    "inplace_binop": False,
    "setitem": False,
    "stencil": False,
    "fusion": False,
}


def _is_writable_dir(path: Path) -> bool:
    """Create ``path`` if needed and prove it is writable by creating a temporary file in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


@functools.cache
def cache_enabled() -> bool:
    """Whether compiled kernels are cached on disk (decided once per process).

    Returns:
        True when ``NUMBA_CACHE_DIR`` is set and writable, or, without that variable, when the
        ``__pycache__`` folder next to the kernel modules is writable.
    """
    user_dir = os.environ.get("NUMBA_CACHE_DIR")
    target = Path(user_dir) if user_dir else _KERNEL_CACHE_DIR
    writable = _is_writable_dir(target)
    if not writable:
        logger.info(
            "Numba kernel cache disabled: %s is not writable; kernels are compiled on first use "
            "in every process (set NUMBA_CACHE_DIR to a writable folder to cache them)",
            target,
        )
    return writable


def jit(*, parallel: bool = False) -> Callable[[_F], _F]:
    """Decorator compiling a kernel with dknet's fixed Numba options.

    Args:
        parallel: run explicit ``numba.prange`` loops in parallel. Only use it where every
            parallel iteration writes its own output slots, so results never depend on the
            thread count. Numba's automatic parallelisation of numpy calls (``np.zeros``,
            array expressions, reductions) stays off: it would turn small allocations into
            parallel regions (and, with dynamic scheduling, into one task per element).

    Returns:
        A decorator turning a Python function into a Numba dispatcher.
    """
    options: dict[str, Any] = {
        "nogil": True,
        "cache": cache_enabled(),
        "parallel": _PRANGE_ONLY if parallel else False,
        "error_model": "numpy",
    }
    decorator = numba.njit(**options)
    # Dispatchers are called exactly like the functions they compile; keep their signatures.
    return cast(Callable[[_F], _F], decorator)


def dynamic_schedule(kernel: _F) -> _F:
    """Run a parallel kernel with its ``prange`` iterations handed out one at a time.

    Numba splits a ``prange`` statically by default. Iterations here are large and uneven
    (scenes of different sizes) and, on a machine shared with other jobs, one thread can be
    descheduled for milliseconds; handing out iterations dynamically lets the other threads
    take over its share. The chunk size is set from Python around the call because setting it
    inside compiled code stops Numba from caching the kernel. Results do not depend on the
    schedule (every iteration writes only its own slots).

    Args:
        kernel: a dispatcher compiled with ``jit(parallel=True)``.

    Returns:
        A function with the kernel's signature and docstring.
    """

    @functools.wraps(kernel)
    def run(*args: Any) -> Any:
        previous = numba.set_parallel_chunksize(1)
        try:
            return kernel(*args)
        finally:
            numba.set_parallel_chunksize(previous)

    return cast(_F, run)
