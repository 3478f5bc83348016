"""`dknet export-submission --check` through Typer's CliRunner: problems, zip, exit codes."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dknet.cli import app
from dknet.io.ids_txt import write_ids_txt
from dknet.io.submission import write_submission
from dknet.structures.instances import Instances

runner = CliRunner()
SCENES = {"scene0707_00": 300, "scene0708_00": 250}


@pytest.fixture()
def submission(tmp_path: Path) -> Path:
    preds = {}
    for scene, n in SCENES.items():
        masks = np.zeros((2, n), dtype=bool)
        masks[0, :150] = True
        masks[1, 100:] = True
        preds[scene] = Instances(masks, np.array([5, 39]), np.array([0.75, 0.5], np.float32))
        write_ids_txt(tmp_path / "gt" / f"{scene}.txt", np.zeros(n, dtype=np.int64))
        meta = tmp_path / "pre" / "scenes" / scene / "meta.json"
        meta.parent.mkdir(parents=True)
        meta.write_text(json.dumps({"scene_id": scene, "num_points": n}))
    (tmp_path / "split.txt").write_text("".join(f"{s}\n" for s in SCENES))
    return write_submission(tmp_path / "sub", preds)


def test_valid_folder_is_zipped_without_root(tmp_path: Path, submission: Path) -> None:
    archive = tmp_path / "upload.zip"
    result = runner.invoke(
        app,
        [
            "export-submission",
            "--check",
            str(submission),
            "--split-file",
            str(tmp_path / "split.txt"),
            "--ground-truth",
            str(tmp_path / "gt"),
            "--zip",
            str(archive),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 scenes, 4 instances: ok" in result.output
    with zipfile.ZipFile(archive) as z:
        names = sorted(z.namelist())
    assert names[:4] == [
        f"predicted_masks/scene070{i}_00_00{k}.txt" for i in (7, 8) for k in (0, 1)
    ]
    assert names[4:] == ["scene0707_00.txt", "scene0708_00.txt"]
    again = runner.invoke(
        app, ["export-submission", "--check", str(submission), "--zip", str(archive)]
    )
    assert again.exit_code == 1 and "already exists" in again.output
    forced = runner.invoke(
        app, ["export-submission", "--check", str(submission), "--zip", str(archive), "--overwrite"]
    )
    assert forced.exit_code == 0, forced.output


def test_problems_are_listed_and_nothing_is_zipped(tmp_path: Path, submission: Path) -> None:
    scene_file = submission / "scene0708_00.txt"
    scene_file.write_text(scene_file.read_text() + "predicted_masks/scene0708_00_000.txt 1 2.0\n")
    (submission / "predicted_masks" / "scene0707_00_001.txt").write_text("1\n" * 299)
    archive = tmp_path / "upload.zip"
    result = runner.invoke(
        app,
        [
            "export-submission",
            "--check",
            str(submission),
            "--data",
            str(tmp_path / "pre"),
            "--zip",
            str(archive),
        ],
    )
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert "not one of the 18" in flat and "must be finite and in [0, 1]" in flat
    assert "has 299 lines but the scene has 300 vertices" in flat
    assert f"{submission / 'scene0708_00.txt'}:3: label '1' is not one of the 18" in result.output
    assert "rejected" in flat
    assert not archive.exists()


def test_split_problems(tmp_path: Path, submission: Path) -> None:
    test_split = tmp_path / "scannetv2_test.txt"
    test_split.write_text("scene0707_00\nscene0708_00\nscene0709_00\n")
    result = runner.invoke(
        app, ["export-submission", "--check", str(submission), "--split-file", str(test_split)]
    )
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert "scene scene0709_00 has no scene0709_00.txt" in flat
    assert "lists 3 scenes; the ScanNet v2 test split has 100" in flat


def test_flag_errors(tmp_path: Path, submission: Path) -> None:
    both = runner.invoke(
        app,
        [
            "export-submission",
            "--check",
            str(submission),
            "--ground-truth",
            str(tmp_path / "gt"),
            "--data",
            str(tmp_path / "pre"),
        ],
    )
    assert both.exit_code == 1 and "pass only one" in both.output
    missing = runner.invoke(app, ["export-submission", "--check", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "not found" in missing.output
    assert runner.invoke(app, ["export-submission"]).exit_code == 2
    # Mixing the checkpoint mode with --check is a usage error.
    for option in ("--checkpoint", "--split"):
        assert (
            runner.invoke(
                app, ["export-submission", "--check", str(submission), option, "x"]
            ).exit_code
            == 2
        )
