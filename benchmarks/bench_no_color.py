"""Accuracy cost of predicting without colours (``dknet predict`` on an uncoloured point cloud).

    python benchmarks/bench_no_color.py --data DIR [--checkpoint C] [--split val]
        [--split-file LIST] [--json OUT]

Scores the same preprocessed split twice with ``dknet.engine.evaluate.evaluate_split``: once
with the scans' colours, once with every colour replaced by the neutral grey that ``dknet
predict`` uses for inputs without colour (``NEUTRAL_COLOR``, a zero colour feature). Prints
AP / AP50 / AP25, semantic accuracy and mIoU for both. Without ``--checkpoint``: the bundled
default model.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from dknet.engine.evaluate import evaluate_split
from dknet.engine.predict import Predictor
from dknet.models.postprocess import ScenePrediction


class _NoColorPredictor(Predictor):
    """A predictor that ignores the colours it is given."""

    def predict(  # type: ignore[override]
        self, coords: np.ndarray, colors: np.ndarray | None = None, **kwargs: Any
    ) -> ScenePrediction:
        return super().predict(coords, None, **kwargs)


def _summary(result: Any) -> dict[str, float]:
    semantic = result.semantic
    return {
        "ap": float(result.ap),
        "ap50": float(result.ap50),
        "ap25": float(result.ap25),
        "semantic_accuracy": float(semantic.accuracy) if semantic else float("nan"),
        "semantic_miou": float(semantic.miou) if semantic else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--split", default="val")
    parser.add_argument("--split-file", default=None, help="an explicit scene list")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    checkpoint = args.checkpoint
    if checkpoint is None:
        from dknet.bundled import default_model

        checkpoint = default_model().path
    colour = Predictor.from_checkpoint(checkpoint, device="cpu")
    grey = _NoColorPredictor(colour.model, colour.device, checkpoint=colour.checkpoint)
    split = {"split": args.split, "split_file": args.split_file}
    results = {
        "with colour": _summary(evaluate_split(args.data, colour, **split)),
        "neutral grey": _summary(evaluate_split(args.data, grey, **split)),
    }
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
