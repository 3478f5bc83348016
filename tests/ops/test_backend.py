"""Tests of ``dknet.ops._backend``: DKNET_OPS_BACKEND parsing, lazy loading of the extension,
classification of load failures and the per-call backend choice."""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from dknet.errors import ConfigError, ExtensionNotAvailableError
from dknet.ops import _backend

OK_INFO: dict[str, Any] = {
    "compiler": "GCC 12.2.0",
    "torch_version": "2.13.0",
    "with_cuda": True,
    "cuda_version": "12.4",
    "cuda_arch_list": ["sm_80", "sm_90"],
    "ops": list(_backend.OPS),
}


@pytest.fixture(autouse=True)
def fresh_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no cached load result, no fallback log and no DKNET_OPS_BACKEND."""
    monkeypatch.delenv(_backend.ENV_VAR, raising=False)
    _backend._reset()
    yield
    _backend._reset()


def fake_extension(info: dict[str, Any] | Exception) -> Callable[[], types.ModuleType]:
    """An importer returning a module whose build_info() returns ``info`` (or raises it)."""

    def build_info() -> dict[str, Any]:
        if isinstance(info, Exception):
            raise info
        return dict(info)

    module = types.ModuleType(_backend.EXTENSION_MODULE)
    module.build_info = build_info  # type: ignore[attr-defined]
    return lambda: module


def failing_import(exc: BaseException) -> Callable[[], types.ModuleType]:
    def importer() -> types.ModuleType:
        raise exc

    return importer


def simulate(
    monkeypatch: pytest.MonkeyPatch,
    importer: Callable[[], types.ModuleType],
    *,
    torch_cuda: str | None = "12.4",
    cuda_available: bool = True,
    missing_ops: tuple[str, ...] = (),
) -> None:
    monkeypatch.setattr(_backend, "_import_extension", importer)
    monkeypatch.setattr(_backend, "_torch_cuda_version", lambda: torch_cuda)
    monkeypatch.setattr(_backend, "_cuda_available", lambda: cuda_available)
    monkeypatch.setattr(_backend, "_missing_ops", lambda: list(missing_ops))


# --- DKNET_OPS_BACKEND -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "auto"),
        ("", "auto"),
        ("auto", "auto"),
        (" AUTO ", "auto"),
        ("ext", "ext"),
        ("Ext", "ext"),
        ("numba", "numba"),
        ("NUMBA\n", "numba"),
    ],
)
def test_requested_backend_parsing(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str
) -> None:
    if value is not None:
        monkeypatch.setenv(_backend.ENV_VAR, value)
    assert _backend.requested_backend() == expected


@pytest.mark.parametrize("value", ["cuda", "gpu", "cpu", "numba,ext", "1"])
def test_invalid_backend_value_names_the_allowed_values(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(_backend.ENV_VAR, value)
    with pytest.raises(ConfigError) as info:
        _backend.select_backend("voxelize", torch.device("cpu"))
    message = str(info.value)
    assert repr(value) in message
    assert "auto, ext, numba" in message
    assert "\n" not in message
    with pytest.raises(ConfigError):
        _backend.planned_backends("cpu")


def test_env_var_is_read_at_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, fake_extension(OK_INFO))
    cuda = torch.device("cuda")
    assert _backend.select_backend("voxelize", cuda) == "ext"
    monkeypatch.setenv(_backend.ENV_VAR, "numba")
    assert _backend.select_backend("voxelize", cuda) == "numba"
    monkeypatch.setenv(_backend.ENV_VAR, "auto")
    assert _backend.select_backend("voxelize", cuda) == "ext"


def test_unknown_op_is_rejected() -> None:
    with pytest.raises(ValueError, match="voxelise"):
        _backend.select_backend("voxelise", torch.device("cpu"))


# --- ext without a usable extension ------------------------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("dknet._ext._C") is not None,
    reason="the compiled extension is installed here",
)
def test_ext_without_built_extension_raises_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_backend.ENV_VAR, "ext")
    with pytest.raises(ExtensionNotAvailableError) as info:
        _backend.select_backend("mine_candidates", torch.device("cpu"))
    status = _backend.extension_status()
    assert (status.available, status.kind, status.build_info) == (False, "not_built", None)
    message = str(info.value)
    assert "not_built" in message
    assert "FORCE_CUDA=1 pip install --no-build-isolation ." in message
    assert "DKNET_OPS_BACKEND=numba" in message
    assert info.value.hint == status.fix
    assert "\n" not in message


def test_ext_with_simulated_missing_module_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, failing_import(ModuleNotFoundError("No module named 'dknet._ext._C'")))
    monkeypatch.setenv(_backend.ENV_VAR, "ext")
    with pytest.raises(ExtensionNotAvailableError, match=r"not_built.*FORCE_CUDA=1 pip install"):
        _backend.select_backend("otsu_thresholds", torch.device("cuda"))


def test_ext_with_cpu_tensor_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, fake_extension(OK_INFO))
    monkeypatch.setenv(_backend.ENV_VAR, "ext")
    assert _backend.select_backend("merge_candidates", torch.device("cuda", 0)) == "ext"
    with pytest.raises(ConfigError, match="no CPU kernels") as info:
        _backend.select_backend("merge_candidates", torch.device("cpu"))
    assert "auto" in (info.value.hint or "") and "numba" in (info.value.hint or "")


# --- classification ----------------------------------------------------------------------------

UNDEFINED = "/site-packages/dknet/_ext/_C.so: undefined symbol: _ZN3c1017RegisterOperatorsD1Ev"

IMPORT_FAILURES = [
    # (exception raised by the import, torch.version.cuda, expected kind, text in the message)
    (ModuleNotFoundError("No module named 'dknet._ext._C'"), "12.4", "not_built", "not built"),
    (ImportError(UNDEFINED), "12.4", "abi_mismatch", "another torch"),
    (
        ImportError("libc10_cuda.so: cannot open shared object file: No such file or directory"),
        None,
        "no_cuda_runtime",
        "CPU-only",
    ),
    (
        ImportError("libcudart.so.11.0: cannot open shared object file: No such file or directory"),
        "12.4",
        "cuda_mismatch",
        "CUDA runtime",
    ),
    (ImportError("_C.so: invalid ELF header"), "12.4", "error", "invalid ELF header"),
    (OSError("disk quota exceeded"), "12.4", "error", "OSError: disk quota exceeded"),
    (RuntimeError("static initialiser failed\nsecond line"), "12.4", "error", "static initialiser"),
]


@pytest.mark.parametrize(("exc", "torch_cuda", "kind", "text"), IMPORT_FAILURES)
def test_import_failures_are_classified(
    monkeypatch: pytest.MonkeyPatch,
    exc: BaseException,
    torch_cuda: str | None,
    kind: str,
    text: str,
) -> None:
    simulate(monkeypatch, failing_import(exc), torch_cuda=torch_cuda)
    status = _backend.extension_status()
    assert status.kind == kind
    assert not status.available
    assert text in status.message
    assert "\n" not in status.message and "\n" not in status.fix
    assert status.fix
    assert status.build_info is None


LOADED_CASES = [
    # (build_info, torch.version.cuda, cuda available, missing ops, expected kind, message text)
    (OK_INFO, "12.1", True, (), "ok", "CUDA 12.4"),
    ({**OK_INFO, "cuda_version": "11.8"}, "12.4", True, (), "cuda_mismatch", "CUDA 11.8"),
    (OK_INFO, None, True, (), "no_cuda_runtime", "CPU-only"),
    (OK_INFO, "12.4", False, (), "no_cuda_runtime", "no CUDA driver or device"),
    (
        {**OK_INFO, "with_cuda": False, "cuda_version": None},
        "12.4",
        True,
        (),
        "not_built",
        "without CUDA",
    ),
    (OK_INFO, "12.4", True, ("otsu_thresholds",), "error", "otsu_thresholds"),
]


@pytest.mark.parametrize(
    ("info", "torch_cuda", "available", "missing", "kind", "text"), LOADED_CASES
)
def test_loaded_extension_is_classified(
    monkeypatch: pytest.MonkeyPatch,
    info: dict[str, Any],
    torch_cuda: str | None,
    available: bool,
    missing: tuple[str, ...],
    kind: str,
    text: str,
) -> None:
    simulate(
        monkeypatch,
        fake_extension(info),
        torch_cuda=torch_cuda,
        cuda_available=available,
        missing_ops=missing,
    )
    status = _backend.extension_status()
    assert status.kind == kind
    assert status.available == (kind == "ok")
    assert text in status.message
    assert status.build_info == info
    assert (status.fix == "") == (kind == "ok")


def test_broken_build_info_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, fake_extension(AttributeError("no build_info")))
    status = _backend.extension_status()
    assert (status.kind, status.available) == ("error", False)
    assert "build_info" in status.message


def test_extension_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    module = fake_extension(OK_INFO)()

    def importer() -> types.ModuleType:
        calls.append(1)
        return module

    simulate(monkeypatch, importer)
    for _ in range(3):
        assert _backend.select_backend("voxelize", torch.device("cuda")) == "ext"
    assert _backend.extension_status() is _backend.extension_status()
    assert len(calls) == 1


# --- auto ---------------------------------------------------------------------------------------


def test_auto_sends_cpu_tensors_to_numba_without_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, failing_import(AssertionError("the extension must not be loaded")))
    for op in _backend.OPS:
        assert _backend.select_backend(op, torch.device("cpu")) == "numba"
        assert _backend.select_backend(op, "cpu") == "numba"
    assert _backend.extension_status.cache_info().currsize == 0


def test_numba_never_loads_the_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, failing_import(AssertionError("the extension must not be loaded")))
    monkeypatch.setenv(_backend.ENV_VAR, "numba")
    for op in _backend.OPS:
        assert _backend.select_backend(op, torch.device("cuda")) == "numba"
    assert _backend.extension_status.cache_info().currsize == 0


def test_auto_uses_the_extension_for_cuda_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, fake_extension(OK_INFO))
    assert _backend.select_backend("mine_candidates", torch.device("cuda", 1)) == "ext"
    assert _backend.select_backend("mine_candidates", torch.device("cpu")) == "numba"


def test_auto_cuda_fallback_logs_once_per_op(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    simulate(monkeypatch, failing_import(ImportError(UNDEFINED)))
    caplog.set_level(logging.INFO, logger=_backend.__name__)
    for _ in range(3):
        for op in ("voxelize", "otsu_thresholds"):
            assert _backend.select_backend(op, torch.device("cuda")) == "numba"
    records = [
        r for r in caplog.records if r.name == _backend.__name__ and r.levelno == logging.INFO
    ]
    assert len(records) == 2
    assert {r.getMessage().split(":")[0] for r in records} == {"voxelize", "otsu_thresholds"}
    assert all("abi_mismatch" in r.getMessage() and "Numba" in r.getMessage() for r in records)


# --- planned_backends ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "device", "loaded", "expected"),
    [
        ("auto", "cpu", True, "numba"),
        ("auto", "cuda", True, "ext"),
        ("auto", "cuda", False, "numba"),
        ("numba", "cuda", True, "numba"),
        ("ext", "cuda", True, "ext"),
        ("ext", "cuda", False, "unavailable (not_built)"),
        ("ext", "cpu", True, "unavailable (no CPU kernels for cpu)"),
    ],
)
def test_planned_backends(
    monkeypatch: pytest.MonkeyPatch, mode: str, device: str, loaded: bool, expected: str
) -> None:
    importer = (
        fake_extension(OK_INFO)
        if loaded
        else failing_import(ModuleNotFoundError("No module named 'dknet._ext._C'"))
    )
    simulate(monkeypatch, importer)
    monkeypatch.setenv(_backend.ENV_VAR, mode)
    assert _backend.planned_backends(device) == dict.fromkeys(_backend.OPS, expected)


# --- import hygiene -----------------------------------------------------------------------------


def test_importing_dknet_and_ops_does_not_load_the_extension() -> None:
    code = (
        "import json, sys\n"
        "import dknet\n"
        "after_dknet = sorted(m for m in sys.modules if m.startswith('dknet._ext'))\n"
        "import dknet.ops, dknet.ops._backend\n"
        "after_ops = sorted(m for m in sys.modules if m.startswith('dknet._ext'))\n"
        "print(json.dumps([after_dknet, after_ops]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    after_dknet, after_ops = json.loads(result.stdout.strip().splitlines()[-1])
    assert after_dknet == []
    assert after_ops == []
