"""Compile checks of the CUDA extension's sources on a machine without a GPU.

* ``.ci/nvcc-check`` compiles every ``.cu`` with plain ``nvcc -c`` (the kernels include no torch
  headers), when nvcc is on PATH.
* The torch glue and ``bindings.cpp`` are built for real, without CUDA (the "built without
  CUDA" branch), with ``torch.utils.cpp_extension.load``, in a subprocess so the ``dknet`` op
  library never registers in the test process. The module must import, define the four op
  schemas, answer ``build_info()`` and send CPU tensors away with a clear message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CSRC = REPO / "src" / "dknet" / "_ext" / "csrc"
OPS = ("voxelize", "mine_candidates", "merge_candidates", "otsu_thresholds")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_nvcc_check_compiles_every_kernel() -> None:
    result = subprocess.run(
        ["bash", str(REPO / ".ci" / "nvcc-check")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    kernels = sorted(p.relative_to(REPO).as_posix() for p in CSRC.rglob("*.cu"))
    assert [f"src/dknet/_ext/csrc/{op}/{op}_cuda.cu" for op in sorted(OPS)] == kernels
    for path in kernels:
        assert f"nvcc -c ok: {path}" in result.stdout


_BUILD_AND_PROBE = textwrap.dedent(
    """
    import json, sys
    import torch
    from torch.utils.cpp_extension import load

    csrc, build = sys.argv[1], sys.argv[2]
    sources = [csrc + "/bindings.cpp"] + [
        f"{csrc}/{op}/{op}.cpp"
        for op in ("voxelize", "mine_candidates", "merge_candidates", "otsu_thresholds")
    ]
    module = load(
        name="_C", sources=sources, extra_include_paths=[csrc], build_directory=build,
        extra_cflags=["-O0", "-DDKNET_CUDA_ARCHS=80,90", "-DDKNET_CUDA_PTX_ARCHS=90"],
    )
    report = {"build_info": module.build_info(), "schemas": {}, "cpu_errors": {}}
    for op in ("voxelize", "mine_candidates", "merge_candidates", "otsu_thresholds"):
        report["schemas"][op] = str(getattr(torch.ops.dknet, op).default._schema)
    calls = {
        "otsu_thresholds": lambda: torch.ops.dknet.otsu_thresholds(torch.zeros(2, 3), 100),
        "voxelize": lambda: torch.ops.dknet.voxelize(
            torch.zeros(2, 3), torch.tensor([0, 2]), 0.02
        ),
    }
    for op, call in calls.items():
        try:
            call()
        except RuntimeError as exc:
            report["cpu_errors"][op] = str(exc).splitlines()[0]

    from dknet.ops import _backend
    _backend._import_extension = lambda: module
    status = _backend.extension_status()
    report["status"] = [status.kind, status.available, status.message]
    print("REPORT " + json.dumps(report))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("ninja") is None or shutil.which("c++") is None,
    reason="needs ninja and a C++ compiler",
)
def test_glue_builds_and_registers_ops_without_cuda(tmp_path: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", _BUILD_AND_PROBE, str(CSRC), str(build)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("REPORT "))
    report = json.loads(line.removeprefix("REPORT "))

    info = report["build_info"]
    assert info["with_cuda"] is False
    assert info["cuda_version"] is None
    assert info["cuda_arch_list"] == ["sm_80", "sm_90", "compute_90"]
    assert info["ops"] == list(OPS)
    assert info["torch_version"].count(".") == 2
    assert info["compiler"].split()[0] in {"GCC", "clang", "MSVC"}

    schemas = report["schemas"]
    assert schemas["voxelize"] == (
        "dknet::voxelize(Tensor coords, Tensor ptr, float voxel_size) -> "
        "(Tensor, Tensor, Tensor, Tensor, Tensor)"
    )
    assert schemas["mine_candidates"] == (
        "dknet::mine_candidates(Tensor heat, Tensor coords, Tensor semantic, Tensor ptr, "
        "float radius, float local_ratio, int max_candidates, int max_neighbors, "
        "float score_threshold) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)"
    )
    assert schemas["merge_candidates"] == (
        "dknet::merge_candidates(Tensor scores, Tensor heat, Tensor candidate_ptr, "
        "float threshold) -> (Tensor, Tensor, Tensor)"
    )
    assert schemas["otsu_thresholds"] == (
        "dknet::otsu_thresholds(Tensor masks, int num_bins) -> Tensor"
    )

    for op in ("otsu_thresholds", "voxelize"):
        message = report["cpu_errors"][op]
        assert message.startswith(f"dknet::{op}: the dknet extension has CUDA kernels only")
        assert "Numba" in message

    kind, available, message = report["status"]
    assert (kind, available) == ("not_built", False)
    assert "without CUDA" in message
