"""Semantic accuracy and mIoU over the 20 classes (hand-computed), in memory and from folders."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dknet.errors import InvalidPredictionError
from dknet.evaluation import evaluate_instances, evaluate_prediction_folder, semantic_metrics
from dknet.evaluation.semantic import semantic_result
from dknet.io.ids_txt import write_ids_txt
from dknet.labels import SEMANTIC_CLASS_NAMES
from dknet.structures.instances import Instances

WALL, FLOOR, CHAIR, SOFA, TABLE, DESK = 1, 2, 5, 6, 7, 14
IDX = {name: i for i, name in enumerate(SEMANTIC_CLASS_NAMES)}


def test_hand_computed_scene() -> None:
    gt = np.array([WALL, WALL, FLOOR, FLOOR, CHAIR, 0, 0, 22])
    pred = np.array([WALL, FLOOR, FLOOR, FLOOR, CHAIR, CHAIR, 0, CHAIR])
    result = semantic_metrics(pred, gt)
    # Counted vertices: the first five (0 = unannotated and 22 = non-benchmark are excluded).
    assert result.accuracy == pytest.approx(4 / 5)
    # wall: tp 1, gt 2, predicted 1 -> 1/2; floor: tp 2, gt 2, predicted 3 -> 2/3; chair: 1/1.
    assert result.iou[IDX["wall"]] == pytest.approx(1 / 2)
    assert result.iou[IDX["floor"]] == pytest.approx(2 / 3)
    assert result.iou[IDX["chair"]] == pytest.approx(1.0)
    assert math.isnan(result.iou[IDX["table"]])
    assert result.miou == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert result.confusion.shape == (20, 21) and result.confusion.sum() == 5


def test_prediction_outside_the_20_classes_is_a_miss_and_a_class_only_predicted_scores_0() -> None:
    gt = np.array([CHAIR, CHAIR, CHAIR, CHAIR])
    pred = np.array([CHAIR, CHAIR, 40, TABLE])
    result = semantic_metrics(pred, gt)
    assert result.accuracy == pytest.approx(0.5)
    # chair: tp 2, fn 2 (one "unknown", one table) -> 1/2; table: tp 0, fp 1 -> 0, in the mean.
    assert result.iou[IDX["chair"]] == pytest.approx(0.5)
    assert result.iou[IDX["table"]] == 0.0
    assert result.miou == pytest.approx((0.5 + 0.0) / 2)
    assert result.confusion[IDX["chair"], 20] == 1


# Two scenes scored as ScanNet's evaluate_semantic_label.py does (hand-computed below).
# Scene a: vertices 5-8 are ignored (0 = unannotated, 22 = ceiling, not a benchmark class); what
# is predicted there (desk, sofa, table, 0) counts nowhere. 40 (otherprop) is "unknown".
SCENE_A_GT = np.array([WALL, WALL, WALL, CHAIR, CHAIR, 0, 0, 22, 22])
SCENE_A_PRED = np.array([WALL, WALL, DESK, CHAIR, 40, DESK, SOFA, TABLE, 0])
# Scene b: the last vertex is unannotated and predicted table (ignored).
SCENE_B_GT = np.array([CHAIR, CHAIR, TABLE, TABLE, 0])
SCENE_B_PRED = np.array([CHAIR, TABLE, TABLE, DESK, TABLE])


def test_benchmark_iou_rule_pooled_over_two_scenes() -> None:
    result = semantic_metrics(
        {"a": SCENE_A_PRED, "b": SCENE_B_PRED}, {"a": SCENE_A_GT, "b": SCENE_B_GT}
    )
    # Pooled counts over the 9 counted vertices (5 in a, 4 in b):
    #   wall:  tp 2, fp 0, fn 1 (predicted desk)                      -> 2/3
    #   chair: tp 2, fp 0, fn 2 (unknown in a, table in b)            -> 2/4
    #   table: tp 1, fp 1 (a chair in b), fn 1 (predicted desk)       -> 1/3
    #   desk:  tp 0, fp 2, fn 0 (predicted, absent from ground truth) -> 0, in the mean
    #   sofa:  predicted only on an ignored vertex                    -> NaN, not in the mean
    #   every other class: absent from both                           -> NaN
    expected = {"wall": 2 / 3, "chair": 1 / 2, "table": 1 / 3, "desk": 0.0}
    for name, i in IDX.items():
        if name in expected:
            assert result.iou[i] == pytest.approx(expected[name]), name
        else:
            assert math.isnan(result.iou[i]), name
    assert result.miou == pytest.approx((2 / 3 + 1 / 2 + 1 / 3 + 0.0) / 4)
    assert result.accuracy == pytest.approx(5 / 9)
    assert result.num_scenes == 2
    assert result.confusion.sum() == 9 and result.confusion[IDX["chair"], 20] == 1
    # Pooling sums the counts; it is not the mean of the per-scene results.
    a = semantic_metrics(SCENE_A_PRED, SCENE_A_GT)
    b = semantic_metrics(SCENE_B_PRED, SCENE_B_GT)
    np.testing.assert_array_equal(result.confusion, a.confusion + b.confusion)
    assert a.miou == pytest.approx((2 / 3 + 1 / 2 + 0.0) / 3)  # wall, chair, desk
    assert math.isnan(a.iou[IDX["table"]])  # predicted only on a ceiling vertex in a
    assert b.miou == pytest.approx((1 / 2 + 1 / 3 + 0.0) / 3)  # chair, table, desk
    assert math.isnan(b.iou[IDX["wall"]])


def test_semantic_result_rejects_a_confusion_of_the_wrong_shape() -> None:
    with pytest.raises(InvalidPredictionError, match=r"\(20, 21\)"):
        semantic_result(np.zeros((20, 20), dtype=np.int64), 1)


def test_mappings_pool_vertices_over_scenes() -> None:
    pred = {"a": np.array([CHAIR, CHAIR]), "b": np.array([TABLE, CHAIR, CHAIR, CHAIR])}
    gt = {"a": np.array([CHAIR, TABLE]), "b": np.array([TABLE, TABLE, TABLE, CHAIR])}
    result = semantic_metrics(pred, gt)
    assert result.accuracy == pytest.approx(3 / 6)
    # chair: tp 2, gt 2, predicted 5 -> 2/5; table: tp 1, gt 4, predicted 1 -> 1/4
    assert result.miou == pytest.approx((2 / 5 + 1 / 4) / 2)
    assert result.num_scenes == 2


def test_errors() -> None:
    with pytest.raises(
        InvalidPredictionError, match="3 semantic labels but the ground truth has 2"
    ):
        semantic_metrics(np.array([1, 2, 3]), np.array([1, 2]))
    with pytest.raises(InvalidPredictionError, match="'c'"):
        semantic_metrics({"c": np.array([1])}, {"a": np.array([1])})
    with pytest.raises(InvalidPredictionError, match="integer"):
        semantic_metrics(np.array([1.5]), np.array([1]))


def test_nothing_counted_gives_nan() -> None:
    result = semantic_metrics(np.array([CHAIR, CHAIR]), np.array([0, 0]))
    assert math.isnan(result.accuracy) and math.isnan(result.miou)


def test_with_instances_in_memory_and_from_folders(tmp_path: Path) -> None:
    n = 300
    gt_ids = np.zeros(n, dtype=np.int64)
    gt_ids[:100] = WALL * 1000 + 1
    gt_ids[100:250] = CHAIR * 1000 + 2
    sem = np.full(n, CHAIR, dtype=np.int64)
    sem[:50] = WALL
    masks = np.zeros((1, n), dtype=bool)
    masks[0, 100:250] = True
    instances = Instances(masks, np.array([CHAIR]), np.array([0.5], np.float32))
    memory = evaluate_instances({"s": instances}, {"s": gt_ids}, semantic_predictions={"s": sem})
    assert memory.semantic is not None
    # wall: tp 50 of gt 100 -> IoU 1/2; chair: tp 150, gt 150, predicted 200 -> 3/4.
    assert memory.semantic.accuracy == pytest.approx(200 / 250)
    assert memory.semantic.miou == pytest.approx((1 / 2 + 3 / 4) / 2)

    write_ids_txt(tmp_path / "gt" / "s.txt", gt_ids)
    write_ids_txt(tmp_path / "sem" / "s.txt", sem)
    write_ids_txt(tmp_path / "pred" / "m" / "s_0.txt", masks[0])
    (tmp_path / "pred" / "s.txt").write_text("m/s_0.txt 5 0.5\n")
    folder = evaluate_prediction_folder(
        tmp_path / "pred", tmp_path / "gt", workers=1, semantic_dir=tmp_path / "sem"
    )
    assert folder.semantic is not None
    assert folder.semantic.accuracy == memory.semantic.accuracy
    np.testing.assert_array_equal(folder.semantic.iou, memory.semantic.iou)
    np.testing.assert_array_equal(folder.semantic.confusion, memory.semantic.confusion)

    write_ids_txt(tmp_path / "sem" / "s.txt", sem[:-1])
    with pytest.raises(InvalidPredictionError, match="299 semantic labels"):
        evaluate_prediction_folder(
            tmp_path / "pred", tmp_path / "gt", workers=1, semantic_dir=tmp_path / "sem"
        )
