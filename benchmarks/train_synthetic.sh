#!/usr/bin/env bash
# Train configs/synthetic.yaml from scratch on `dknet synth` rooms on this CPU, then score the
# best checkpoint on rooms drawn from a seed never used for training (benchmarks/RESULTS.md).
#
#   benchmarks/train_synthetic.sh WORK_DIR [extra `dknet train` overrides...]
#
# WORK_DIR receives raw/ and data/ (training set, seed 0: ~70 % train, ~15 % val rooms),
# unseen_raw/ and unseen/ (seed 1000, its val rooms are the held-out test), run/ (the training
# run: config.yaml, metrics.jsonl, checkpoints/) and unseen.json (the final scores).
# Re-running resumes an interrupted training run.
set -euo pipefail
work=${1:?usage: train_synthetic.sh WORK_DIR [KEY=VALUE...]}
shift
here=$(cd "$(dirname "$0")/.." && pwd)
scenes=${SCENES:-30}
spacing=${SPACING:-0.1}
mkdir -p "$work"
stamp() { date +%s; }
t0=$(stamp)
[ -d "$work/data/scenes" ] || {
  dknet synth "$work/raw" --scenes "$scenes" --seed 0 --vertex-spacing "$spacing" -j 1
  dknet preprocess scannet "$work/raw" "$work/data" -j 1
}
[ -d "$work/unseen/scenes" ] || {
  dknet synth "$work/unseen_raw" --scenes "$scenes" --seed 1000 --vertex-spacing "$spacing" -j 1
  dknet preprocess scannet "$work/unseen_raw" "$work/unseen" -j 1
}
t1=$(stamp)
echo "data ready in $((t1 - t0)) s"
resume=()
[ -f "$work/run/checkpoints/last.pth" ] && resume=(--resume)
dknet -v train "$here/configs/synthetic.yaml" --data "$work/data" --output-dir "$work/run" \
  --device cpu "${resume[@]}" "$@"
t2=$(stamp)
echo "training wall time $((t2 - t1)) s"
dknet evaluate --split val --data "$work/unseen" --checkpoint "$work/run/checkpoints/best.pth" \
  --device cpu --json "$work/unseen.json" --overwrite
echo "total wall time $(($(stamp) - t0)) s"
