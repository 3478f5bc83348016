"""No input file, however broken, makes the CLI print a Python traceback.

A small synthetic dataset, its preprocessed ground truth and a valid submission are corrupted
at random (truncated, bytes flipped, replaced by garbage, emptied, deleted, turned into a folder,
PLY vertex counts inflated), then `preprocess`, `evaluate` and `export-submission --check` run on
them. Each must finish with exit code 0 or 1 (a one-line error), never an uncaught exception.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dknet.cli import app
from dknet.io.ids_txt import read_ids_txt
from dknet.io.submission import write_submission
from dknet.labels import INSTANCE_NYU40_IDS
from dknet.structures import Instances

runner = CliRunner()
CORRUPTIONS = ("truncate", "flip", "garbage", "empty", "delete", "folder", "huge_count")


def _corrupt(path: Path, kind: str, rng: random.Random) -> None:
    data = path.read_bytes()
    if kind == "truncate":
        path.write_bytes(data[: rng.randrange(max(1, len(data)))])
    elif kind == "flip":
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            if flipped:
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        path.write_bytes(bytes(flipped))
    elif kind == "garbage":
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "delete":
        path.unlink()
    elif kind == "folder":
        path.unlink()
        path.mkdir()
    elif kind == "huge_count":
        path.write_bytes(data.replace(b"element vertex", b"element vertex 99999999999999", 1))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("pristine")
    argv = ["synth", str(base / "raw"), "--scenes", "3", "--seed", "3", "--vertex-spacing", "0.08"]
    assert runner.invoke(app, argv).exit_code == 0
    argv = ["preprocess", "scannet", str(base / "raw"), str(base / "data"), "-j", "1"]
    assert runner.invoke(app, argv).exit_code == 0
    predictions = {}
    for path in sorted((base / "data" / "ground_truth").glob("*.txt")):
        gt = read_ids_txt(path)
        ids = [int(v) for v in np.unique(gt) if v // 1000 in INSTANCE_NYU40_IDS]
        predictions[path.stem] = Instances(
            masks=np.stack([gt == v for v in ids]),
            labels=np.array([v // 1000 for v in ids], dtype=np.int64),
            scores=np.full(len(ids), 0.5, np.float32),
        )
    write_submission(base / "sub", predictions)
    return base


@pytest.mark.parametrize("seed", range(40))
def test_corrupted_inputs_never_raise(pristine: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    for name in ("raw", "data", "sub"):
        shutil.copytree(pristine / name, tmp_path / name)
    target = ("raw", "sub", "data/ground_truth")[seed % 3]
    files = sorted(p for p in (tmp_path / target).rglob("*") if p.is_file())
    for victim in rng.sample(files, k=min(len(files), rng.randint(1, 3))):
        _corrupt(victim, rng.choice(CORRUPTIONS), rng)
    gt_dir = str(tmp_path / "data" / "ground_truth")
    if target == "raw":
        argv = ["preprocess", "scannet", str(tmp_path / "raw"), str(tmp_path / "out"), "-j", "1"]
    elif seed % 2:
        argv = ["evaluate", "--predictions", str(tmp_path / "sub"), "--ground-truth", gt_dir]
        argv += ["-j", "1"]
    else:
        argv = ["export-submission", "--check", str(tmp_path / "sub"), "--ground-truth", gt_dir]
    result = runner.invoke(app, argv)
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
