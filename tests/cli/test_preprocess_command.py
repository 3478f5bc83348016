"""`dknet preprocess` through Typer's CliRunner: arguments, summary, exit codes, error lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dknet.cli import app

runner = CliRunner()


def write_pointcept_scene(folder: Path, n: int = 5) -> None:
    folder.mkdir(parents=True)
    np.save(folder / "coord.npy", np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    np.save(folder / "color.npy", np.zeros((n, 3), np.uint8))
    np.save(folder / "segment20.npy", np.array([4] * (n - 1) + [-1]))
    np.save(folder / "instance.npy", np.array([0] * (n - 1) + [-1]))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "pointcept"
    write_pointcept_scene(base / "train" / "scene0000_00")
    write_pointcept_scene(base / "val" / "scene0011_00", n=7)
    return base


def test_preprocess_prints_summary(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["preprocess", "pointcept", str(root), str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "done" in result.output and "12" in result.output  # 5 + 7 points
    assert (out / "scenes" / "scene0011_00" / "coords.npy").is_file()
    assert (out / "ground_truth" / "scene0000_00.txt").read_text() == "5001\n" * 4 + "0\n"

    again = runner.invoke(app, ["preprocess", "pointcept", str(root), str(out), "-j", "1"])
    assert again.exit_code == 0
    assert "skipped" in again.output


def test_arguments_reach_the_library(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dknet.data.preprocess as module

    calls: list[tuple] = []
    real = module.preprocess_dataset

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "preprocess_dataset", spy)
    split = tmp_path / "split.txt"
    split.write_text("scene0000_00\n")
    table = tmp_path / "labels.tsv"
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["preprocess", "pointcept", str(root), str(out), "--split-file", str(split),
         "--label-table", str(table), "--workers", "1", "--overwrite"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ((args, kwargs),) = calls
    assert args == ("pointcept", root, out)
    assert kwargs["split_file"] == split and kwargs["label_table"] == table
    assert kwargs["workers"] == 1 and kwargs["overwrite"] is True
    assert callable(kwargs["progress"])


def test_failing_scene_gives_exit_1_and_others_complete(root: Path, tmp_path: Path) -> None:
    np.save(root / "val" / "scene0011_00" / "segment20.npy", np.full(7, 25))
    out = tmp_path / "out"
    result = runner.invoke(app, ["preprocess", "pointcept", str(root), str(out), "-j", "1"])
    assert result.exit_code == 1
    assert "scene0011_00" in result.output and "value 25 outside -1..19" in result.output
    assert "Traceback" not in result.output
    assert (out / "scenes" / "scene0000_00" / "meta.json").is_file()
    assert not (out / "scenes" / "scene0011_00").exists()


def test_bad_root_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = runner.invoke(
        app, ["preprocess", "scannet", str(tmp_path / "empty"), str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "no ScanNet scenes found" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_scannet_without_label_table_is_one_line_error(tmp_path: Path) -> None:
    scene = tmp_path / "scannet" / "scans" / "scene0000_00"
    scene.mkdir(parents=True)
    (scene / "scene0000_00_vh_clean_2.ply").write_bytes(b"ply\n")
    (scene / "scene0000_00.aggregation.json").write_text("{}")
    result = runner.invoke(
        app, ["preprocess", "scannet", str(tmp_path / "scannet"), str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "no label table" in result.output and "--label-table" in result.output
    assert "Traceback" not in result.output


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["preprocess", "s3dis", str(tmp_path), str(tmp_path / "out")])
    assert result.exit_code == 2
