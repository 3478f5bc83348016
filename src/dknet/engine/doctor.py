"""Collect what a bug report needs: versions, extension status, op backends, spconv mode, GPUs."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["EnvironmentReport", "collect_environment"]


@dataclass(frozen=True)
class EnvironmentReport:
    """Everything ``dknet doctor`` prints (also available as JSON through :meth:`to_dict`).

    Attributes:
        versions: package -> version string ("not installed" when absent).
        python: interpreter version and platform.
        torch_cuda: CUDA version torch was built with, or None for a CPU build.
        gpus: one entry per visible GPU: index, name, compute capability "major.minor".
        extension: status of ``dknet._ext``: available, kind (ok, not_built, abi_mismatch,
            cuda_mismatch, no_cuda_runtime, error), message, fix, build_info.
        backends: device ("cpu", "cuda") -> op name -> backend the op would use now.
        spconv: installed version, mode ("gpu" or "cpu") and the result of a tiny sparse
            convolution (forward + backward) run on the CPU now ("ok" or the error).
        numba_threads: threads Numba will use.
        default_model: the bundled default model: ``status`` ("ok" or the problem), file,
            size in MB and its AP50 on unseen synthetic rooms.
    """

    versions: dict[str, str]
    python: str
    torch_cuda: str | None
    gpus: list[dict[str, Any]]
    extension: dict[str, Any]
    backends: dict[str, dict[str, str]]
    spconv: dict[str, str]
    numba_threads: int | None
    default_model: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return asdict(self)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _spconv_smoke_test() -> str:
    """Run one submanifold conv forward and backward on the CPU; "ok" or the error text."""
    import torch

    from dknet.models.spconv_compat import conv_algo, ensure_spconv_compat

    try:
        spconv = ensure_spconv_compat()
        indices = torch.tensor([[0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 1, 1]], dtype=torch.int32)
        feats = torch.ones(3, 2, requires_grad=True)
        conv = spconv.SubMConv3d(2, 2, 3, bias=False, algo=conv_algo("cpu"))
        out = conv(spconv.SparseConvTensor(feats, indices, [4, 4, 4], 1))
        out.features.sum().backward()
        if feats.grad is None or not torch.isfinite(feats.grad).all():
            return "error: backward produced no finite gradient"
    except Exception as exc:  # doctor reports any failure as text
        return f"error: {type(exc).__name__}: {exc}".splitlines()[0]
    return "ok"


def _default_model_status() -> dict[str, Any]:
    """The bundled model's checksum check and card numbers, as plain data."""
    from dknet.bundled import default_model
    from dknet.errors import CheckpointError

    try:
        model = default_model()
    except CheckpointError as exc:
        return {"status": exc.message}
    scores = model.info.get("unseen_scores") or {}
    return {
        "status": "ok",
        "file": str(model.path),
        "megabytes": round(model.path.stat().st_size / 1e6, 1),
        "unseen_ap50": scores.get("ap50"),
    }


def collect_environment(*, run_spconv_check: bool = True) -> EnvironmentReport:
    """Inspect the installation without failing: every problem becomes text in the report.

    Args:
        run_spconv_check: also run a tiny CPU sparse convolution (about a second).
    """
    import dknet

    problems: list[str] = []
    versions = {
        "dknet": dknet.__version__,
        "torch": _version("torch"),
        "spconv-cu118": _version("spconv-cu118"),
        "cumm-cu118": _version("cumm-cu118"),
        "numba": _version("numba"),
        "numpy": _version("numpy"),
        "typer": _version("typer"),
    }
    python = f"{platform.python_version()} ({sys.platform}, {platform.machine()})"

    import torch

    gpus: list[dict[str, Any]] = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(index)
            gpus.append(
                {
                    "index": index,
                    "name": torch.cuda.get_device_name(index),
                    "capability": f"{major}.{minor}",
                }
            )

    from dknet.ops import _backend

    status = _backend.extension_status()
    extension = {
        "available": status.available,
        "kind": status.kind,
        "message": status.message,
        "fix": status.fix,
        "build_info": status.build_info,
    }
    backends = {"cpu": _backend.planned_backends(torch.device("cpu"))}
    if torch.cuda.is_available():
        backends["cuda"] = _backend.planned_backends(torch.device("cuda"))
        # build_info lists what nvcc compiled, e.g. ["sm_80", "sm_90", "compute_90"].
        compiled = [str(a) for a in (status.build_info or {}).get("cuda_arch_list", [])]
        for gpu in gpus:
            sm = "sm_" + gpu["capability"].replace(".", "")
            if status.available and compiled and sm not in compiled:
                problems.append(
                    f"GPU {gpu['index']} ({gpu['name']}, {sm}) is not in the extension's "
                    f"compiled architectures ({', '.join(compiled)}); rebuild with "
                    f"TORCH_CUDA_ARCH_LIST={gpu['capability']}"
                )

    from dknet.models.spconv_compat import spconv_mode, spconv_version

    spconv_info = {
        "version": spconv_version() or "not installed",
        "mode": spconv_mode(),
        "cpu_check": _spconv_smoke_test() if run_spconv_check else "skipped",
    }
    if spconv_info["cpu_check"] not in ("ok", "skipped"):
        problems.append(f"spconv CPU check failed: {spconv_info['cpu_check']}")

    numba_threads: int | None
    try:
        import numba

        # numba ships no type information and sets its config attributes at run time.
        numba_threads = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    except ImportError:
        numba_threads = None
        problems.append("numba is not installed: the CPU ops cannot run (pip install numba)")

    default_model = _default_model_status()
    if default_model["status"] != "ok":
        problems.append(f"bundled default model: {default_model['status']}")

    return EnvironmentReport(
        versions=versions,
        python=python,
        torch_cuda=torch.version.cuda,
        gpus=gpus,
        extension=extension,
        backends=backends,
        spconv=spconv_info,
        numba_threads=numba_threads,
        default_model=default_model,
        problems=problems,
    )
