"""Packaging and module-boundary checks: a real wheel works, imports stay light and acyclic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "dknet"


def _run_python(code: str, *, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _all_modules() -> list[str]:
    names = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts))
    names += ["dknet.cli"] + [
        f"dknet.cli.{p.stem}" for p in sorted((REPO / "cli").glob("*.py")) if p.stem != "__init__"
    ]
    return names


def test_every_module_imports_in_isolation(tmp_path: Path) -> None:
    """Each module imports on its own, with every other dknet module unloaded (no cycles)."""
    code = f"""
import importlib, sys, json
failures = {{}}
for name in {_all_modules()!r}:
    for loaded in [m for m in sys.modules if m == "dknet" or m.startswith("dknet.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failures[name] = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps(failures))
"""
    failures = json.loads(_run_python(code, cwd=tmp_path).strip().splitlines()[-1])
    assert failures == {}


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("dknet", ["torch", "spconv", "numba", "dknet._ext"]),
        ("dknet.cli", ["spconv", "numba", "dknet._ext"]),
        ("dknet.io.ply", ["torch", "spconv", "numba"]),
        ("dknet.ops", ["numba", "dknet._ext", "spconv"]),
    ],
)
def test_imports_stay_light(tmp_path: Path, module: str, forbidden: list[str]) -> None:
    code = f"""
import importlib, sys
importlib.import_module({module!r})
print([m for m in {forbidden!r} if m in sys.modules])
"""
    assert _run_python(code, cwd=tmp_path).strip().splitlines()[-1] == "[]"


def test_native_source_stems_are_unique() -> None:
    stems = [p.stem for p in (SRC / "_ext").rglob("*") if p.suffix in (".cpp", ".cu")]
    assert len(stems) == len(set(stems))


@pytest.mark.slow
def test_non_editable_wheel_runs_cli(tmp_path: Path) -> None:
    """Build a real wheel, install it into a folder, and run `dknet` and `python -m dknet`."""
    wheel_dir = tmp_path / "wheel"
    env = {**os.environ, "DKNET_NO_EXTENSION": "1"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(wheel_dir), str(REPO)],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheel_dir.glob("dknet-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "dknet = dknet.cli:main" in archive.read(entry_points).decode()
    assert "dknet/cli/__init__.py" in names
    assert "dknet/py.typed" in names
    assert not any(n.startswith(("tests/", "cli/")) for n in names)

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    run_env = {**os.environ, "PYTHONPATH": str(target)}
    where = _run_python("import dknet; print(dknet.__file__)", cwd=tmp_path, env=run_env)
    assert where.strip().startswith(str(target))
    for argv in (
        [str(target / "bin" / "dknet"), "--help"],
        [sys.executable, "-m", "dknet", "--help"],
    ):
        proc = subprocess.run(
            argv, cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        for command in ("doctor", "synth", "preprocess", "evaluate", "export-submission"):
            assert command in proc.stdout
