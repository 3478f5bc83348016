"""`dknet evaluate --split` and `dknet export-submission --checkpoint` round-trip through the
existing evaluator and submission checker."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from dknet.cli import app
from dknet.io.splits import read_split_file
from dknet.io.submission import check_submission, preprocessed_vertex_counts

runner = CliRunner()


def test_evaluate_split_matches_the_folder_evaluator(
    tmp_path: Path, trained_checkpoint: Path, preprocessed: Path
) -> None:
    keep, split_json, folder_json = tmp_path / "keep", tmp_path / "s.json", tmp_path / "f.json"
    result = runner.invoke(
        app,
        ["evaluate", "--split", "val", "--data", str(preprocessed), "-c", str(trained_checkpoint),
         "--keep-predictions", str(keep), "--json", str(split_json)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Instance segmentation (1 scenes)" in result.output and "mIoU" in result.output
    scenes = sorted(p.stem for p in keep.glob("*.txt"))
    assert len(scenes) == 1
    counts = preprocessed_vertex_counts(preprocessed)
    report = check_submission(keep, expected_scenes=scenes, num_vertices=counts)
    assert report.ok, report.problems
    result = runner.invoke(
        app,
        ["evaluate", "--predictions", str(keep), "--ground-truth",
         str(preprocessed / "ground_truth"), "--json", str(folder_json)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    from_split, from_folder = (
        json.loads(split_json.read_text()),
        json.loads(folder_json.read_text()),
    )
    for key in ("ap", "ap50", "ap25", "classes"):
        assert from_split[key] == from_folder[key]
    assert from_split["semantic"]["miou"] is not None

    # The kept folder is not overwritten without --overwrite; bad flag mixes are one line.
    again = [
        "evaluate",
        "--split",
        "val",
        "--data",
        str(preprocessed),
        "-c",
        str(trained_checkpoint),
    ]
    result = runner.invoke(app, [*again, "--keep-predictions", str(keep)])
    assert result.exit_code == 1 and "not empty" in result.output
    result = runner.invoke(app, [*again, "--predictions", str(keep)])
    assert result.exit_code == 2 and "use one mode" in result.output
    result = runner.invoke(app, ["evaluate", "--split", "test", "--data", str(preprocessed)])
    assert result.exit_code == 1 and "export-submission" in result.output
    result = runner.invoke(app, [*again[:5], "-c", str(trained_checkpoint), "--split-file",
                                 str(tmp_path / "none.txt")])  # fmt: skip
    assert result.exit_code == 1 and "split file not found" in result.output


def test_export_submission_round_trips_through_the_checker(
    tmp_path: Path, trained_checkpoint: Path, preprocessed: Path, synth_root: Path
) -> None:
    upload, keep = tmp_path / "upload.zip", tmp_path / "keep"
    args = ["export-submission", "--checkpoint", str(trained_checkpoint), "--data",
            str(preprocessed), "--split", "test"]  # fmt: skip
    result = runner.invoke(app, [*args, "--zip", str(upload), "--keep", str(keep)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and f"wrote {upload}" in result.output
    test_scenes = read_split_file(synth_root / "scannetv2_test.txt")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(upload) as archive:
        names = archive.namelist()
        archive.extractall(unpacked)
    assert f"{test_scenes[0]}.txt" in names  # no root folder in the archive
    counts = preprocessed_vertex_counts(preprocessed)
    for folder in (unpacked, keep):
        report = check_submission(folder, expected_scenes=test_scenes, num_vertices=counts)
        assert report.ok, report.problems
    result = runner.invoke(
        app, ["export-submission", "--check", str(unpacked), "--data", str(preprocessed)]
    )
    assert result.exit_code == 0, result.output
    # The archive is never replaced without --overwrite, and nothing is predicted then.
    result = runner.invoke(app, [*args, "--zip", str(upload)])
    assert result.exit_code == 1 and "already exists" in result.output
    result = runner.invoke(app, [*args])
    assert result.exit_code == 2 and "--zip" in result.output
