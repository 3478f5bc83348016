"""Build script: package discovery and the optional CUDA extension ``dknet._ext._C``.

All metadata lives in pyproject.toml. The extension is built when torch is importable in the
build environment and either has CUDA (``torch.cuda.is_available()`` with ``CUDA_HOME`` set) or
``FORCE_CUDA=1`` is set. ``DKNET_NO_EXTENSION=1`` skips it. Without the extension every op runs on
Numba. A CUDA build needs ``pip install --no-build-isolation .`` so that it compiles against the
torch you run with. ``TORCH_CUDA_ARCH_LIST`` (e.g. ``"8.0;8.6;9.0"``, 9.0 = H100), ``NVCC_FLAGS``
and ``MAX_JOBS`` are honoured; a failed build is an error unless ``DKNET_ALLOW_BUILD_ERRORS=1``.
"""

from __future__ import annotations

import glob
import os
import re
import sys

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("src", "dknet", "_ext", "csrc")


def _say(message: str) -> None:
    sys.stderr.write(f"dknet: {message}\n")


def _extensions() -> tuple[list, dict]:
    if os.environ.get("DKNET_NO_EXTENSION", "0") == "1":
        _say("DKNET_NO_EXTENSION=1: building without the CUDA extension; ops run on Numba.")
        return [], {}
    try:
        import torch
        from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CUDAExtension
    except ImportError:
        _say(
            "torch is not importable in the build environment: building without the CUDA "
            "extension; ops run on Numba (for a GPU build use "
            "`FORCE_CUDA=1 pip install --no-build-isolation .`)."
        )
        return [], {}
    force = os.environ.get("FORCE_CUDA", "0") == "1"
    if not force and not (torch.cuda.is_available() and CUDA_HOME is not None):
        _say("no CUDA device or CUDA_HOME: building without the CUDA extension; ops run on Numba.")
        return [], {}
    if CUDA_HOME is None:
        # torch only looks for a CUDA toolkit when it is a CUDA build itself.
        problem = (
            "FORCE_CUDA=1 but torch is a CPU-only build (torch.version.cuda is None)"
            if torch.version.cuda is None
            else "FORCE_CUDA=1 but CUDA_HOME is not set and nvcc was not found"
        )
        if os.environ.get("DKNET_ALLOW_BUILD_ERRORS", "0") == "1":
            _say(
                f"{problem}; DKNET_ALLOW_BUILD_ERRORS=1 so the install continues and every op "
                "runs on Numba."
            )
            return [], {}
        raise RuntimeError(problem)
    # Relative to setup.py (setuptools wants relative source paths), whatever the working folder.
    sources = sorted(glob.glob(os.path.join(CSRC, "**", "*.cpp"), root_dir=ROOT, recursive=True))
    sources += sorted(glob.glob(os.path.join(CSRC, "**", "*.cu"), root_dir=ROOT, recursive=True))
    # --fmad=false: the ops contract forbids fused multiply-adds (bit-identical results with
    # Numba); the kernels also spell out every rounding with __f*_rn intrinsics.
    nvcc_flags = ["-O3", "--expt-relaxed-constexpr", "-lineinfo", "--fmad=false"]
    nvcc_flags += os.environ.get("NVCC_FLAGS", "").split()
    ext = CUDAExtension(
        name="dknet._ext._C",
        sources=sources,
        include_dirs=[os.path.join(ROOT, CSRC)],
        define_macros=[("WITH_CUDA", None)],
        # No -std: torch's BuildExtension adds the standard its headers need (C++17 or C++20).
        extra_compile_args={"cxx": ["-O3", *_arch_macros()], "nvcc": nvcc_flags},
    )
    build_ext = BuildExtension.with_options(use_ninja=os.environ.get("USE_NINJA", "1") == "1")
    if os.environ.get("DKNET_ALLOW_BUILD_ERRORS", "0") == "1":
        build_ext = _tolerant(build_ext)
    _say(
        "building the CUDA extension dknet._ext._C for TORCH_CUDA_ARCH_LIST="
        f"{os.environ.get('TORCH_CUDA_ARCH_LIST', '(torch default)')}"
    )
    return [ext], {"build_ext": build_ext}


def _arch_macros() -> list[str]:
    """CUDA architectures of this build as integer-list macros, reported by ``build_info()``.

    Integers only (``-DDKNET_CUDA_ARCHS=80,90``): string macros lose their quotes in ninja
    builds. C++ flags only: nvcc would read the commas as a list of separate macros.
    """
    user_flags = os.environ.get("NVCC_FLAGS", "").split()
    try:
        from torch.utils.cpp_extension import _get_cuda_arch_flags

        # Empty when NVCC_FLAGS carries its own -gencode / -arch flags: those are used instead.
        flags = _get_cuda_arch_flags(user_flags) + user_flags
    except Exception:  # a private torch helper; the macros are informative only
        return []
    # Targets look like "code=sm_90", "code=compute_90" or "code=[sm_90,compute_90]".
    targets = [t for f in flags for c in re.findall(r"code=\[?([\w,]+)", f) for t in c.split(",")]
    sass = sorted({int(m) for t in targets for m in re.findall(r"^sm_(\d+)", t)})
    ptx = sorted({int(m) for t in targets for m in re.findall(r"^compute_(\d+)", t)})
    macros = []
    if sass:
        macros.append("-DDKNET_CUDA_ARCHS=" + ",".join(map(str, sass)))
    if ptx:
        macros.append("-DDKNET_CUDA_PTX_ARCHS=" + ",".join(map(str, ptx)))
    return macros


def _tolerant(base: type) -> type:
    class TolerantBuildExt(base):  # type: ignore[misc,valid-type]
        def build_extensions(self) -> None:
            try:
                super().build_extensions()
            except Exception as exc:  # the knob exists to swallow exactly this
                _say(
                    f"CUDA extension build FAILED ({exc}); DKNET_ALLOW_BUILD_ERRORS=1 so the "
                    "install continues and every op runs on Numba."
                )
                # Nothing was built: keep later steps (in-place copies of editable installs, the
                # wheel's file list) from looking for the missing library.
                self.extensions = []

    return TolerantBuildExt


ext_modules, cmdclass = _extensions()

setup(
    packages=[*find_packages("src"), "dknet.cli"],
    package_dir={"": "src", "dknet.cli": "cli"},
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
