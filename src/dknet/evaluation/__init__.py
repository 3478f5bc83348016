"""Benchmark evaluation: ScanNet 3D semantic-instance AP (rule for rule) and semantic metrics.

In memory::

    from dknet.evaluation import evaluate_instances
    result = evaluate_instances(predictions, ground_truth)   # {scene: Instances}, {scene: ids}
    print(result.ap, result.ap50, result.ap25)

From a benchmark-format prediction folder::

    result = evaluate_prediction_folder("preds/", "ground_truth/", workers=0)
"""

from __future__ import annotations

from dknet.evaluation.ap import OVERLAPS, ap_table, average_precision, evaluate_instances
from dknet.evaluation.folder import evaluate_prediction_folder, read_ground_truth_txt
from dknet.evaluation.records import (
    MIN_REGION_SIZE,
    GroundTruthInstances,
    SceneRecords,
    ground_truth_instances,
    scene_records,
)
from dknet.evaluation.report import ClassAP, EvalResult, build_eval_result
from dknet.evaluation.semantic import SemanticResult, semantic_confusion, semantic_metrics

__all__ = [
    "MIN_REGION_SIZE",
    "OVERLAPS",
    "ClassAP",
    "EvalResult",
    "GroundTruthInstances",
    "SceneRecords",
    "SemanticResult",
    "ap_table",
    "average_precision",
    "build_eval_result",
    "evaluate_instances",
    "evaluate_prediction_folder",
    "ground_truth_instances",
    "read_ground_truth_txt",
    "scene_records",
    "semantic_confusion",
    "semantic_metrics",
]
