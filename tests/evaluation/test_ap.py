"""Instance AP: hand-computed cases for each rule, a slow literal reference on random folders."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from dknet.errors import InvalidPredictionError
from dknet.evaluation import (
    OVERLAPS,
    average_precision,
    evaluate_instances,
    evaluate_prediction_folder,
)
from dknet.labels import INSTANCE_CLASS_NAMES, INSTANCE_NYU40_IDS
from dknet.structures.instances import Instances

CHAIR, TABLE, CABINET, WALL = 5, 7, 3, 1
N = 1000
CHAIR_ROW = INSTANCE_NYU40_IDS.index(CHAIR)
TABLE_ROW = INSTANCE_NYU40_IDS.index(TABLE)
I50 = 0  # column of overlap 0.5
I25 = 9  # column of overlap 0.25


# ---------------------------------------------------------------------------------------------
# small builders


def gt_ids(*segments: tuple[int, int, int], n: int = N) -> np.ndarray:
    """Ground truth with ``value`` on [start, stop) for each (start, stop, value); 0 elsewhere."""
    ids = np.zeros(n, dtype=np.int64)
    for start, stop, value in segments:
        ids[start:stop] = value
    return ids


def mask(*ranges: tuple[int, int], n: int = N) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    for start, stop in ranges:
        m[start:stop] = True
    return m


def instances(*preds: tuple[np.ndarray, int, float], n: int = N) -> Instances:
    if not preds:
        return Instances.empty(n)
    return Instances(
        masks=np.stack([p[0] for p in preds]),
        labels=np.array([p[1] for p in preds], dtype=np.int64),
        scores=np.array([p[2] for p in preds], dtype=np.float32),
    )


def chair_table(preds: Instances, gt: np.ndarray) -> np.ndarray:
    """The AP row of class chair at all ten overlaps."""
    return evaluate_instances({"s": preds}, {"s": gt}).ap_per_overlap[CHAIR_ROW]


def write_folder(root: Path, scenes: dict[str, list[str]], masks: dict[str, np.ndarray]) -> Path:
    """Write scene files (given lines) and mask files (relative path -> bool array)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, m in masks.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{int(v)}\n" for v in m))
    for scene, lines in scenes.items():
        (root / f"{scene}.txt").write_text("".join(line + "\n" for line in lines))
    return root


def write_gt(root: Path, gts: dict[str, np.ndarray]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for scene, ids in gts.items():
        (root / f"{scene}.txt").write_text("".join(f"{int(v)}\n" for v in ids))
    return root


# ---------------------------------------------------------------------------------------------
# the PR integral


def test_overlaps_are_the_arange_values() -> None:
    assert OVERLAPS.tolist()[:9] == np.arange(0.5, 0.95, 0.05).tolist()
    assert OVERLAPS[9] == 0.25
    assert OVERLAPS[2] != 0.6  # 0.6000000000000001: the benchmark compares against this value


def test_average_precision_hand_worked_curve() -> None:
    # Ascending scores .6(T) .7(F) .8(T) .9(T), one unmatched ground truth:
    # points (p, r): (3/4, 3/4) (2/3, 1/2) (1, 1/2) (1, 1/4) (1, 0)
    # widths (r_{i-1} - r_{i+1}) / 2 with r_{-1} = r_0 and 0 after the end:
    # 1/8 1/8 1/8 1/4 1/8  ->  AP = 3/32 + 1/12 + 1/8 + 1/4 + 1/8 = 65/96
    ap = average_precision(np.array([1, 0, 1, 1]), np.array([0.9, 0.7, 0.8, 0.6]), 1)
    assert ap == pytest.approx(65 / 96, abs=1e-12)


def test_average_precision_ties_and_empty() -> None:
    # One true and one false entry at the same confidence: one point (1/2, 1) then (1, 0).
    assert average_precision(np.array([1, 0]), np.array([0.5, 0.5]), 0) == pytest.approx(0.75)
    # No entries at all (the benchmark script's crash case): the curve is (1, 0) only.
    assert average_precision(np.zeros(0), np.zeros(0), 3) == 0.0


# ---------------------------------------------------------------------------------------------
# matching rules, hand-computed


def test_perfect_predictions_give_one_everywhere() -> None:
    gt = gt_ids(
        (0, 200, CHAIR * 1000 + 1), (200, 400, CHAIR * 1000 + 2), (500, 700, TABLE * 1000 + 1)
    )
    preds = instances(
        (mask((0, 200)), CHAIR, 0.9), (mask((200, 400)), CHAIR, 0.5), (mask((500, 700)), TABLE, 0.7)
    )
    result = evaluate_instances({"s": preds}, {"s": gt})
    assert (result.ap, result.ap50, result.ap25) == (1.0, 1.0, 1.0)
    for c in result.classes:
        if c.nyu40_id in (CHAIR, TABLE):
            assert (c.ap, c.ap50, c.ap25) == (1.0, 1.0, 1.0)
        else:
            assert math.isnan(c.ap) and math.isnan(c.ap50) and math.isnan(c.ap25)


def test_iou_equal_to_threshold_is_not_a_match() -> None:
    gt = gt_ids((0, 200, CHAIR * 1000 + 1))
    # IoU = 100 / 200 = 0.5 exactly: no match at 0.5 (strictly greater), a match at 0.25.
    row = chair_table(instances((mask((0, 100)), CHAIR, 0.9)), gt)
    assert row[I50] == 0.0 and row[I25] == 1.0
    # IoU = 101 / 200: a match at 0.5, none at 0.55.
    row = chair_table(instances((mask((0, 101)), CHAIR, 0.9)), gt)
    assert row[I50] == 1.0 and row[1] == 0.0 and row[I25] == 1.0


def test_min_region_size_for_ground_truth() -> None:
    # 99 vertices: not an instance to find, the class has no ground truth -> NaN.
    row = chair_table(instances((mask((0, 99)), CHAIR, 0.9)), gt_ids((0, 99, CHAIR * 1000 + 1)))
    assert np.isnan(row).all()
    row = chair_table(instances((mask((0, 100)), CHAIR, 0.9)), gt_ids((0, 100, CHAIR * 1000 + 1)))
    assert (row == 1.0).all()


def test_min_region_size_for_predictions() -> None:
    gt = gt_ids((0, 150, CHAIR * 1000 + 1))
    # A 99-vertex mask is dropped before matching: ground truth without prediction -> 0.
    assert (chair_table(instances((mask((0, 99)), CHAIR, 0.9)), gt) == 0.0).all()
    # 100 vertices (IoU 2/3): matched up to 0.65, missed above.
    row = chair_table(instances((mask((0, 100)), CHAIR, 0.9)), gt)
    assert row[:4].tolist() == [1.0] * 4 and row[4:9].tolist() == [0.0] * 5 and row[I25] == 1.0


@pytest.mark.parametrize("void_value", [0, WALL * 1000 + 1, 40 * 1000 + 3])
def test_prediction_on_void_is_ignored(void_value: int) -> None:
    # Unannotated, wall and non-benchmark classes are all void.
    gt = gt_ids((0, 200, CHAIR * 1000 + 1), (500, 700, void_value))
    on_void = instances((mask((0, 200)), CHAIR, 0.9), (mask((500, 700)), CHAIR, 0.95))
    assert (chair_table(on_void, gt) == 1.0).all()


def test_prediction_on_other_class_is_a_false_positive() -> None:
    gt = gt_ids((0, 200, CHAIR * 1000 + 1), (500, 700, TABLE * 1000 + 1))
    # Entries .9 (true), .95 (false): points (1/2, 1) (0, 0) (1, 0) -> AP = 1/2 * 1/2 = 1/4.
    preds = instances((mask((0, 200)), CHAIR, 0.9), (mask((500, 700)), CHAIR, 0.95))
    assert chair_table(preds, gt) == pytest.approx([0.25] * 10)


def test_void_fraction_equal_to_threshold_counts_as_false_positive() -> None:
    # The second chair prediction lies on void and on a table. A void fraction of exactly 0.5
    # is a false positive at overlap 0.5 (ignored needs fraction > overlap); 101/200 is ignored.
    gt = gt_ids((0, 200, CHAIR * 1000 + 1), (500, 700, TABLE * 1000 + 1))
    half = chair_table(instances((mask((0, 200)), CHAIR, 0.9), (mask((400, 600)), CHAIR, 0.95)), gt)
    assert half[I50] == pytest.approx(0.25) and half[I25] == 1.0
    assert half[1:9] == pytest.approx([0.25] * 8)
    more = chair_table(instances((mask((0, 200)), CHAIR, 0.9), (mask((399, 599)), CHAIR, 0.95)), gt)
    assert more[I50] == 1.0 and more[I25] == 1.0 and more[1] == pytest.approx(0.25)


def test_prediction_on_small_same_class_ground_truth_is_ignored() -> None:
    # A second chair of 80 vertices (too small to count); the prediction covers it plus 20 void.
    gt = gt_ids((0, 200, CHAIR * 1000 + 1), (300, 380, CHAIR * 1000 + 2))
    preds = instances((mask((0, 200)), CHAIR, 0.9), (mask((300, 400)), CHAIR, 0.95))
    assert (chair_table(preds, gt) == 1.0).all()
    # The same geometry on a small TABLE instance: only the 20 void vertices are ignored -> FP.
    gt_other = gt_ids((0, 200, CHAIR * 1000 + 1), (300, 380, TABLE * 1000 + 2))
    assert chair_table(preds, gt_other) == pytest.approx([0.25] * 10)


def test_duplicate_prediction_adds_false_positive_with_lower_confidence() -> None:
    gt = gt_ids((0, 200, CHAIR * 1000 + 1), (300, 500, CHAIR * 1000 + 2))
    preds = instances(
        (mask((0, 200)), CHAIR, 0.6), (mask((0, 200)), CHAIR, 0.9), (mask((300, 500)), CHAIR, 0.3)
    )
    # Entries: match (1, .9), extra FP (0, .6), match (1, .3). Ascending .3 .6 .9:
    # points (2/3, 1) (1/2, 1/2) (1, 1/2) (1, 0); widths 1/4 each -> AP = 19/24.
    assert chair_table(preds, gt) == pytest.approx([19 / 24] * 10)


def test_file_order_decides_greedy_matches() -> None:
    # Two chairs; P1 straddles both (IoU 1/3 with each), P2 equals the first chair.
    gt = gt_ids((0, 200, CHAIR * 1000 + 1), (200, 400, CHAIR * 1000 + 2))
    p1 = (mask((100, 300)), CHAIR, 0.8)
    p2 = (mask((0, 200)), CHAIR, 0.7)
    # P1 first: it takes chair 1 at 0.25, P2 is the duplicate, chair 2 is missed -> AP25 1/2.
    assert chair_table(instances(p1, p2), gt)[I25] == pytest.approx(0.5)
    # P2 first: P1 (not consumed) then matches chair 2 -> AP25 1.
    assert chair_table(instances(p2, p1), gt)[I25] == pytest.approx(1.0)


def test_absent_class_is_nan_and_left_out_of_means() -> None:
    gt = gt_ids((0, 200, CHAIR * 1000 + 1), (500, 700, TABLE * 1000 + 1))
    result = evaluate_instances({"s": instances((mask((0, 200)), CHAIR, 0.9))}, {"s": gt})
    by_name = {c.name: c for c in result.classes}
    assert by_name["chair"].ap == 1.0
    assert by_name["table"].ap == 0.0  # ground truth but no prediction
    assert math.isnan(by_name["sofa"].ap)
    assert (result.ap, result.ap50, result.ap25) == (0.5, 0.5, 0.5)
    assert [c.name for c in result.classes] == list(INSTANCE_CLASS_NAMES)


def test_all_predictions_ignored_scores_zero_without_crashing() -> None:
    gt = gt_ids((0, 200, CHAIR * 1000 + 1), (500, 800, 0))
    row = chair_table(instances((mask((500, 800)), CHAIR, 0.9)), gt)
    assert (row == 0.0).all()


def test_invalid_label_is_dropped() -> None:
    gt = gt_ids((0, 200, CHAIR * 1000 + 1))
    for label in (0, WALL, 2, 40, -5, 100_000):
        result = evaluate_instances({"s": instances((mask((0, 200)), label, 0.9))}, {"s": gt})
        assert (result.ap_per_overlap[CHAIR_ROW] == 0.0).all()
        assert np.isnan(np.delete(result.ap_per_overlap, CHAIR_ROW, axis=0)).all()


def test_mask_length_mismatch_is_an_error() -> None:
    with pytest.raises(InvalidPredictionError, match="scene s"):
        evaluate_instances(
            {"s": instances((mask((0, 200), n=999), CHAIR, 0.9), n=999)},
            {"s": gt_ids((0, 200, CHAIR * 1000 + 1))},
        )


def test_scenes_without_ground_truth_or_predictions(caplog: pytest.LogCaptureFixture) -> None:
    gt = gt_ids((0, 200, CHAIR * 1000 + 1))
    preds = {"a": instances((mask((0, 200)), CHAIR, 0.9))}
    with pytest.raises(InvalidPredictionError, match="'a'"):
        evaluate_instances(preds, {"b": gt})
    result = evaluate_instances(preds, {"a": gt, "b": gt})
    assert result.missing_scenes == ("b",) and result.scenes == ("a",)
    assert "have no instance predictions" in caplog.text
    with pytest.raises(InvalidPredictionError, match="1 ground-truth scenes"):
        evaluate_instances(preds, {"a": gt, "b": gt}, require_all=True)


# ---------------------------------------------------------------------------------------------
# folder reading rules


def test_folder_same_mask_twice_counted_once(tmp_path: Path) -> None:
    gts = write_gt(tmp_path / "gt", {"s": gt_ids((0, 200, CHAIR * 1000 + 1))})
    masks = {"m/a.txt": mask((0, 200))}
    once = write_folder(tmp_path / "p1", {"s": ["m/a.txt 5 0.5", "./m/a.txt 5 0.5"]}, masks)
    assert (evaluate_prediction_folder(once, gts, workers=1).ap_per_overlap[CHAIR_ROW] == 1).all()
    # Two mask files with the same content are two predictions: the duplicate is an FP (0.75).
    masks2 = {"m/a.txt": mask((0, 200)), "m/b.txt": mask((0, 200))}
    twice = write_folder(tmp_path / "p2", {"s": ["m/a.txt 5 0.5", "m/b.txt 5 0.5"]}, masks2)
    row = evaluate_prediction_folder(twice, gts, workers=1).ap_per_overlap[CHAIR_ROW]
    assert row == pytest.approx([0.75] * 10)


def test_folder_repeated_line_replaces_label_keeps_position(tmp_path: Path) -> None:
    gts = write_gt(
        tmp_path / "gt", {"s": gt_ids((0, 200, CHAIR * 1000 + 1), (200, 400, CHAIR * 1000 + 2))}
    )
    masks = {"m/p1.txt": mask((100, 300)), "m/p2.txt": mask((0, 200))}
    # The third line repeats P2: P2 keeps the first position (before P1) -> AP25 = 1.
    pred = write_folder(
        tmp_path / "p", {"s": ["m/p2.txt 5 0.1", "m/p1.txt 5 0.8", "m/p2.txt 5 0.7"]}, masks
    )
    assert evaluate_prediction_folder(pred, gts, workers=1).ap_per_overlap[CHAIR_ROW, I25] == 1.0
    # A repeated line with another label moves the mask out of the chair class.
    relabel = write_folder(tmp_path / "q", {"s": ["m/p2.txt 5 0.7", "m/p2.txt 3 0.7"]}, masks)
    table = evaluate_prediction_folder(relabel, gts, workers=1).ap_per_overlap
    assert (table[CHAIR_ROW] == 0.0).all() and np.isnan(table[INSTANCE_NYU40_IDS.index(3)]).all()


def test_folder_label_parsing_and_skipped_masks(tmp_path: Path) -> None:
    gts = write_gt(tmp_path / "gt", {"s": gt_ids((0, 200, CHAIR * 1000 + 1))})
    # "5.7" is read as int(float("5.7")) = 5; a non-benchmark label's mask is never opened.
    pred = write_folder(
        tmp_path / "p",
        {"s": ["m/a.txt 5.7 0.9", "m/missing.txt 1 0.9"]},
        {"m/a.txt": mask((0, 200))},
    )
    assert (evaluate_prediction_folder(pred, gts, workers=1).ap_per_overlap[CHAIR_ROW] == 1).all()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("m/a.txt 5", "expected 3 tokens"),
        ("m/a.txt  5 0.9", "expected 3 tokens"),
        ("/abs/a.txt 5 0.9", "must be relative"),
        ("../a.txt 5 0.9", "outside the prediction folder"),
        ("m/a.txt chair 0.9", "label 'chair'"),
        ("m/a.txt 5 high", "confidence 'high'"),
    ],
)
def test_folder_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    gts = write_gt(tmp_path / "gt", {"s": gt_ids((0, 200, CHAIR * 1000 + 1))})
    pred = write_folder(tmp_path / "p", {"s": ["m/a.txt 5 0.9", line]}, {"m/a.txt": mask((0, 200))})
    with pytest.raises(InvalidPredictionError, match=message) as info:
        evaluate_prediction_folder(pred, gts, workers=1)
    assert f"{pred / 's.txt'}: line 2" in info.value.message


def test_folder_mask_length_and_missing_ground_truth(tmp_path: Path) -> None:
    gts = write_gt(tmp_path / "gt", {"s": gt_ids((0, 200, CHAIR * 1000 + 1))})
    short = write_folder(
        tmp_path / "p", {"s": ["m/a.txt 5 0.9"]}, {"m/a.txt": mask((0, 200), n=999)}
    )
    with pytest.raises(InvalidPredictionError, match="999 lines but the scene has 1000") as info:
        evaluate_prediction_folder(short, gts, workers=1)
    assert "m/a.txt" in info.value.message
    orphan = write_folder(tmp_path / "q", {"t": []}, {})
    with pytest.raises(InvalidPredictionError, match=r"t.txt: no ground-truth file"):
        evaluate_prediction_folder(orphan, gts, workers=1)


# ---------------------------------------------------------------------------------------------
# slow literal reference of the benchmark protocol (dicts and loops, vertex by vertex)


def reference_folder_ap(pred_dir: Path, gt_dir: Path) -> np.ndarray:
    """The benchmark protocol written out plainly; returns the (18, 10) AP table."""
    class_ids = list(INSTANCE_NYU40_IDS)
    overlaps = [float(v) for v in np.append(np.arange(0.5, 0.95, 0.05), 0.25)]
    scenes = sorted(f[:-4] for f in os.listdir(pred_dir) if f.endswith(".txt"))
    per_scene = []
    for scene in scenes:
        ids = [int(x) for x in (gt_dir / f"{scene}.txt").read_text().splitlines()]
        sizes: dict[int, int] = {}
        for v in ids:
            sizes[v] = sizes.get(v, 0) + 1
        gts: dict[int, list[dict]] = {c: [] for c in class_ids}
        for value in sorted(sizes):
            if value != 0 and value // 1000 in class_ids:
                gts[value // 1000].append({"id": value, "size": sizes[value], "preds": []})
        void = [v // 1000 not in class_ids for v in ids]
        entries: dict[str, tuple[int, float]] = {}
        for line in (pred_dir / f"{scene}.txt").read_text().splitlines():
            path, label, conf = line.split(" ")
            entries[os.path.abspath(os.path.join(pred_dir, path))] = (
                int(float(label)),
                float(conf),
            )
        preds: dict[int, list[dict]] = {c: [] for c in class_ids}
        for path, (label, conf) in entries.items():
            if label not in class_ids:
                continue
            m = [int(x) != 0 for x in Path(path).read_text().splitlines()]
            assert len(m) == len(ids)
            size = sum(m)
            if size < 100:
                continue
            pred = {
                "path": path,
                "size": size,
                "conf": conf,
                "gts": [],
                "void": sum(1 for a, b in zip(m, void, strict=True) if a and b),
            }
            for gt in gts[label]:
                inter = sum(1 for a, v in zip(m, ids, strict=True) if a and v == gt["id"])
                if inter > 0:
                    pred["gts"].append((gt, inter))
                    gt["preds"].append((pred, inter))
            preds[label].append(pred)
        per_scene.append((gts, preds))

    table = np.zeros((len(class_ids), len(overlaps)))
    for oi, th in enumerate(overlaps):
        used = {p["path"]: False for gts, preds in per_scene for c in class_ids for p in preds[c]}
        for ci, c in enumerate(class_ids):
            y: list[tuple[int, float]] = []
            hard_fn = 0
            has_gt = has_pred = False
            for gts, preds in per_scene:
                big = [g for g in gts[c] if g["size"] >= 100]
                has_gt = has_gt or bool(big)
                has_pred = has_pred or bool(preds[c])
                best: dict[int, float] = {}
                for gi, gt in enumerate(big):
                    for pred, inter in gt["preds"]:
                        if used[pred["path"]]:
                            continue
                        if inter / (gt["size"] + pred["size"] - inter) > th:
                            if gi in best:
                                y.append((0, min(best[gi], pred["conf"])))
                                best[gi] = max(best[gi], pred["conf"])
                            else:
                                best[gi] = pred["conf"]
                                used[pred["path"]] = True
                    if gi not in best:
                        hard_fn += 1
                y.extend((1, s) for s in best.values())
                for pred in preds[c]:
                    if any(i / (g["size"] + pred["size"] - i) > th for g, i in pred["gts"]):
                        continue
                    ignored = pred["void"] + sum(i for g, i in pred["gts"] if g["size"] < 100)
                    if ignored / pred["size"] <= th:
                        y.append((0, pred["conf"]))
            if not has_gt:
                table[ci, oi] = float("nan")
            elif not has_pred:
                table[ci, oi] = 0.0
            else:
                table[ci, oi] = reference_pr_integral(y, hard_fn)
    return table


def reference_pr_integral(entries: list[tuple[int, float]], hard_fn: int) -> float:
    num_true = sum(t for t, _ in entries)
    points = []
    for s in sorted({score for _, score in entries}):
        below = sum(t for t, score in entries if score < s)
        at_or_above = sum(1 for _, score in entries if score >= s)
        tp = num_true - below
        points.append((tp / at_or_above, tp / (tp + below + hard_fn)))
    points.append((1.0, 0.0))
    total = 0.0
    for i, (p, _) in enumerate(points):
        r_prev = points[i - 1][1] if i > 0 else points[0][1]
        r_next = points[i + 1][1] if i + 1 < len(points) else 0.0
        total += p * (r_prev - r_next) / 2
    return total


def random_folder(root: Path, seed: int, num_scenes: int = 4) -> tuple[Path, Path]:
    """Random scenes and predictions exercising every rule: small instances, void, duplicates,
    repeated and re-labelled lines, masks shared between scenes, ties, invalid labels."""
    rng = np.random.default_rng(seed)
    gt_dir, pred_dir = root / "gt", root / "pred"
    (pred_dir / "m").mkdir(parents=True)
    gt_dir.mkdir()
    classes = [3, 4, 5, 7, 39]
    for s in range(num_scenes):
        scene = f"scene{s:04d}_00"
        n = int(rng.integers(600, 900))
        ids = np.zeros(n, dtype=np.int64)
        cuts = np.sort(
            rng.choice(np.arange(30, n - 30), size=int(rng.integers(4, 9)), replace=False)
        )
        bounds = [0, *cuts.tolist(), n]
        for k in range(len(bounds) - 1):
            kind = rng.random()
            if kind < 0.15:
                continue  # unannotated
            nyu = int(rng.choice([1, 2, 40])) if kind < 0.3 else int(rng.choice(classes))
            ids[bounds[k] : bounds[k + 1]] = nyu * 1000 + k + 1
        (gt_dir / f"{scene}.txt").write_text("".join(f"{v}\n" for v in ids))
        lines: list[str] = []
        segments = [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]
        for j in range(int(rng.integers(3, 12))):
            a, b = segments[int(rng.integers(len(segments)))]
            m = np.zeros(n, dtype=np.int64)
            m[a:b] = 1
            flip = rng.random(n) < rng.choice([0.0, 0.05, 0.3])
            m[flip] = 1 - m[flip]
            if rng.random() < 0.2:  # spill over into the next segment
                m[b : min(n, b + int(rng.integers(1, 150)))] = int(rng.choice([1, 7]))
            rel = f"m/{scene}_{j:03d}.txt"
            (pred_dir / rel).write_text("".join(f"{v}\n" for v in m))
            gt_class = int(ids[(a + b) // 2] // 1000)
            label = (
                gt_class
                if gt_class in classes and rng.random() < 0.7
                else int(rng.choice([*classes, 1, 0, 40]))
            )
            conf = float(np.round(rng.random(), 1))
            lines.append(f"{rel} {label} {conf}")
            if rng.random() < 0.15:
                lines.append(f"./{rel} {label} {conf}")  # same mask, counted once
            if rng.random() < 0.1:
                lines.append(f"{rel} {int(rng.choice(classes))} {float(np.round(rng.random(), 2))}")
        rng.shuffle(lines)
        (pred_dir / f"{scene}.txt").write_text("".join(f"{line}\n" for line in lines))
    return pred_dir, gt_dir


@pytest.mark.parametrize("seed", range(6))
def test_fast_matches_literal_reference_on_random_folders(tmp_path: Path, seed: int) -> None:
    pred_dir, gt_dir = random_folder(tmp_path, seed)
    expected = reference_folder_ap(pred_dir, gt_dir)
    got = evaluate_prediction_folder(pred_dir, gt_dir, workers=1).ap_per_overlap
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9, equal_nan=True)
    assert not np.isnan(expected).all()


def test_mask_shared_between_scenes_is_consumed_once(tmp_path: Path) -> None:
    # Two scenes name the same mask file: the benchmark keys "already matched" by file path.
    gt = gt_ids((0, 200, CHAIR * 1000 + 1), (200, 400, CHAIR * 1000 + 2))
    gts = write_gt(tmp_path / "gt", {"a": gt, "b": gt})
    pred = write_folder(
        tmp_path / "p",
        {"a": ["m/x.txt 5 0.8"], "b": ["m/x.txt 5 0.8"]},
        {"m/x.txt": mask((100, 300))},
    )
    got = evaluate_prediction_folder(pred, gts, workers=1).ap_per_overlap
    np.testing.assert_allclose(got, reference_folder_ap(pred, gts), atol=1e-12, equal_nan=True)


def test_parallel_workers_give_the_same_table(tmp_path: Path) -> None:
    pred_dir, gt_dir = random_folder(tmp_path, 11, num_scenes=3)
    one = evaluate_prediction_folder(pred_dir, gt_dir, workers=1)
    two = evaluate_prediction_folder(pred_dir, gt_dir, workers=2)
    np.testing.assert_array_equal(one.ap_per_overlap, two.ap_per_overlap)


# ---------------------------------------------------------------------------------------------
# properties on random perturbations


def random_scene(
    rng: np.random.Generator, n: int = 2000
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    cuts = np.sort(rng.choice(np.arange(150, n - 150, 150), size=8, replace=False))
    bounds = [0, *cuts.tolist(), n]
    ids = np.zeros(n, dtype=np.int64)
    objects = []
    for k in range(len(bounds) - 1):
        nyu = int(rng.choice([3, 5, 7, 39]))
        ids[bounds[k] : bounds[k + 1]] = nyu * 1000 + k + 1
        objects.append((bounds[k], bounds[k + 1], nyu))
    return ids, objects


@pytest.mark.parametrize("seed", range(4))
def test_random_perturbations_stay_in_range_and_false_positives_only_hurt(seed: int) -> None:
    rng = np.random.default_rng(seed)
    preds, fps, gts = {}, {}, {}
    for s in range(3):
        ids, objects = random_scene(rng)
        n = ids.shape[0]
        masks, labels = [], []
        for a, b, nyu in objects:
            m = np.zeros(n, dtype=bool)
            m[a:b] = True
            flip = rng.random(n) < rng.uniform(0.0, 0.2)
            masks.append(m ^ flip)
            labels.append(nyu)
        scores = rng.random(len(masks)).astype(np.float32)
        base = Instances(np.stack(masks), np.array(labels), scores)
        # Extra predictions entirely on an instance of another class: unmatched, not ignored.
        extra_m, extra_l = [], []
        for a, b, nyu in objects:
            other = [c for c in (3, 5, 7, 39) if c != nyu][int(rng.integers(3))]
            m = np.zeros(n, dtype=bool)
            m[a:b] = True
            extra_m.append(m)
            extra_l.append(other)
        extra = Instances(
            np.stack(extra_m), np.array(extra_l), rng.random(len(extra_m)).astype(np.float32)
        )
        preds[f"s{s}"] = base
        fps[f"s{s}"] = Instances(
            np.concatenate([base.masks, extra.masks]),
            np.concatenate([base.labels, extra.labels]),
            np.concatenate([base.scores, extra.scores]),
        )
        gts[f"s{s}"] = ids
    clean = evaluate_instances(preds, gts).ap_per_overlap
    noisy = evaluate_instances(fps, gts).ap_per_overlap
    for table in (clean, noisy):
        finite = table[~np.isnan(table)]
        # The step integral may land one ulp above 1, exactly as the benchmark script does.
        assert finite.size and ((finite >= 0) & (finite <= 1 + 1e-12)).all()
    both = ~np.isnan(clean)
    assert (noisy[both] <= clean[both] + 1e-12).all()
    assert (noisy[both] < clean[both]).any()


# ---------------------------------------------------------------------------------------------
# the Instances structure the evaluator consumes


def test_instances_fields_and_indexing() -> None:
    masks = np.zeros((3, 5), dtype=np.uint8)
    masks[0, :2] = 1
    masks[2, 4] = 7
    inst = Instances(masks, np.array([5, 1, 39], dtype=np.int32), np.array([0.5, 1.0, 0.0]))
    assert inst.masks.dtype == np.bool_ and inst.labels.dtype == np.int64
    assert inst.scores.dtype == np.float32
    assert len(inst) == 3 and inst.num_points == 5
    assert inst.masks[2].tolist() == [False, False, False, False, True]
    picked = inst[np.array([True, False, True])]
    assert picked.labels.tolist() == [5, 39] and picked.masks.shape == (2, 5)
    assert inst[1].labels.tolist() == [1] and inst[-1].labels.tolist() == [39]
    assert inst[np.array([2, 0])].scores.tolist() == [0.0, 0.5]
    assert inst[1:].labels.tolist() == [1, 39]
    assert len(inst[np.array([], dtype=np.int64)]) == 0
    assert len(Instances.empty(7)) == 0 and Instances.empty(7).num_points == 7
    with pytest.raises(IndexError):
        inst[3]
    with pytest.raises(IndexError):
        inst[np.array([True, False])]


@pytest.mark.parametrize(
    ("masks", "labels", "scores", "message"),
    [
        (np.zeros(5, bool), [5], [0.5], "must be \\(K, N\\)"),
        (np.zeros((2, 5), bool), [5], [0.5, 0.5], "disagree"),
        (np.zeros((1, 5), bool), [5], [0.5, 0.5], "disagree"),
        (np.zeros((1, 5), bool), [5.0], [0.5], "integer nyu40 ids"),
        (np.zeros((1, 5), bool), [5], [1.5], "finite and in \\[0, 1\\]"),
        (np.zeros((1, 5), bool), [5], [-0.1], "finite and in \\[0, 1\\]"),
        (np.zeros((1, 5), bool), [5], [np.nan], "finite and in \\[0, 1\\]"),
    ],
)
def test_instances_validation(masks: np.ndarray, labels: list, scores: list, message: str) -> None:
    with pytest.raises(InvalidPredictionError, match=message):
        Instances(masks, np.array(labels), np.array(scores))
