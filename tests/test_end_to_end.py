"""End to end on CPU through the CLI: synth -> preprocess -> submission -> check -> zip -> evaluate.

The model does not exist yet, so predictions are made from the preprocessed ground truth: a
perfect set (every metric 1.0) and a degraded set (known to score lower). This checks that every
stage reads what the previous one wrote, exactly as a user chains the commands.
"""

from __future__ import annotations

import json
import zipfile
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


def _instances_from_ground_truth(gt: np.ndarray, *, degrade: bool) -> Instances:
    ids = [int(v) for v in np.unique(gt) if v // 1000 in INSTANCE_NYU40_IDS]
    masks = np.stack([gt == v for v in ids]) if ids else np.zeros((0, gt.size), bool)
    labels = np.array([v // 1000 for v in ids], dtype=np.int64)
    scores = np.linspace(0.9, 0.5, len(ids)).astype(np.float32)
    if degrade and len(ids) >= 2:
        # Merge the first two instances into one mask and drop the second: one miss, one
        # mask whose IoU falls below the higher thresholds.
        masks[0] |= masks[1]
        keep = np.ones(len(ids), bool)
        keep[1] = False
        masks, labels, scores = masks[keep], labels[keep], scores[keep]
    return Instances(masks=masks, labels=labels, scores=scores)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    result = runner.invoke(
        app,
        ["synth", str(root / "raw"), "--scenes", "3", "--seed", "5", "--vertex-spacing", "0.05"],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["preprocess", "scannet", str(root / "raw"), str(root / "data"), "--workers", "1"],
    )
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.parametrize(("degrade", "perfect"), [(False, True), (True, False)])
def test_submission_round_trip_through_the_cli(dataset: Path, degrade: bool, perfect: bool) -> None:
    gt_dir = dataset / "data" / "ground_truth"
    gt_files = sorted(gt_dir.glob("*.txt"))
    assert gt_files, "preprocess wrote no ground truth"
    ground_truth = {p.stem: read_ids_txt(p) for p in gt_files}
    predictions = {
        scene: _instances_from_ground_truth(gt, degrade=degrade)
        for scene, gt in ground_truth.items()
    }
    sub = dataset / f"submission-{degrade}"
    write_submission(sub, predictions, num_vertices={s: g.size for s, g in ground_truth.items()})

    split = dataset / "split.txt"
    split.write_text("".join(f"{s}\n" for s in sorted(ground_truth)))
    archive = dataset / f"upload-{degrade}.zip"
    result = runner.invoke(
        app,
        ["export-submission", "--check", str(sub), "--split-file", str(split),
         "--data", str(dataset / "data"), "--zip", str(archive)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert sorted(n for n in names if "/" not in n) == [f"{s}.txt" for s in sorted(ground_truth)]
    assert all(n.startswith("predicted_masks/") for n in names if "/" in n)

    report = dataset / f"result-{degrade}.json"
    result = runner.invoke(
        app,
        ["evaluate", "--predictions", str(sub), "--ground-truth", str(gt_dir),
         "--json", str(report), "--workers", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads(report.read_text())
    if perfect:
        assert scores["ap"] == scores["ap50"] == scores["ap25"] == 1.0
    else:
        assert 0.0 < scores["ap"] < 1.0
        assert scores["ap"] <= scores["ap50"] <= scores["ap25"]


def test_check_rejects_a_truncated_mask(dataset: Path) -> None:
    gt_dir = dataset / "data" / "ground_truth"
    ground_truth = {p.stem: read_ids_txt(p) for p in sorted(gt_dir.glob("*.txt"))}
    predictions = {
        s: _instances_from_ground_truth(g, degrade=False) for s, g in ground_truth.items()
    }
    sub = dataset / "submission-broken"
    write_submission(sub, predictions)
    mask = sorted((sub / "predicted_masks").glob("*.txt"))[0]
    mask.write_text("".join(mask.read_text().splitlines(keepends=True)[:-5]))
    result = runner.invoke(
        app, ["export-submission", "--check", str(sub), "--ground-truth", str(gt_dir)]
    )
    assert result.exit_code == 1
    assert mask.name in result.output
    result = runner.invoke(
        app,
        ["evaluate", "--predictions", str(sub), "--ground-truth", str(gt_dir), "--workers", "1"],
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
