#!/usr/bin/env bash
# Reproduce dknet's bundled default model (docs/MODEL_CARD.md) from nothing but dknet itself:
# scan-like synthetic rooms from fixed seeds -> preprocess -> `dknet train configs/default.yaml`
# -> scores on rooms from a seed never used for training -> the fp16 model file.
#
#   scripts/train_default_model.sh WORK_DIR [extra `dknet train` KEY=VALUE overrides...]
#
# WORK_DIR receives raw/ + data/ (seed 0, 200 rooms: 140 train, 30 val, 30 test), unseen_raw/ +
# unseen/ (seed 1000, 48 rooms; the labelled ones are scored), run/ (the training run of
# configs/default.yaml: config.yaml, metrics.jsonl, checkpoints/), bundle/dknet-default.{pth.xz,json}
# (float16 weights and their description, by scripts/bundle_default_model.py) and unseen.{json,csv} (AP / AP50 / AP25 per
# class of those float16 weights). Re-running the script resumes an interrupted training run;
# finished steps are skipped. Uses a GPU when one is there (DEVICE=cpu|cuda to choose); PROCS=K
# trains in K torchrun processes (default 1; a resumed run needs the same count).
set -euo pipefail
work=${1:?usage: train_default_model.sh WORK_DIR [KEY=VALUE...]}
shift
here=$(cd "$(dirname "$0")/.." && pwd)
device=${DEVICE:-auto}
mkdir -p "$work"
work=$(cd "$work" && pwd)
stamp() { date +%s; }
t0=$(stamp)
[ -d "$work/data/scenes" ] || {
  dknet synth "$work/raw" --scenes 200 --seed 0 --overwrite
  dknet preprocess scannet "$work/raw" "$work/data" --overwrite
}
[ -d "$work/unseen/scenes" ] || {
  dknet synth "$work/unseen_raw" --scenes 48 --seed 1000 --overwrite
  dknet preprocess scannet "$work/unseen_raw" "$work/unseen" --overwrite
  # Every labelled unseen room is scored (synth's test rooms, like ScanNet's, have no labels).
  cat "$work/unseen_raw"/scannetv2_{train,val}.txt > "$work/unseen/scannetv2_unseen.txt"
}
t1=$(stamp)
echo "data ready in $((t1 - t0)) s"
# configs/default.yaml from scratch (resumes an interrupted run) in one process. PROCS=2 runs
# two one-thread processes under torchrun instead (gloo, one scene each per step, the
# backbone's BatchNorms synchronised): faster per iteration on 2 cores, but 40-epoch runs that
# way scored below the one-process recipe (benchmarks/RESULTS.md).
procs=${PROCS:-1}
resume=()
[ -f "$work/run/checkpoints/last.pth" ] && resume=(--resume)
train=(dknet)
if [ "$procs" -gt 1 ]; then
  train=(env OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" NUMBA_NUM_THREADS="${NUMBA_NUM_THREADS:-1}"
    torchrun --standalone --nproc_per_node "$procs" -m dknet.cli)
fi
"${train[@]}" -v train "$here/configs/default.yaml" --data "$work/data" --output-dir "$work/run" \
  --device "$device" "${resume[@]}" "$@"
t2=$(stamp)
echo "training wall time $((t2 - t1)) s"
bundle=(python "$here/scripts/bundle_default_model.py" "$work/run" --out "$work/bundle")
"${bundle[@]}"
# The model card's numbers: the float16 file that ships, on every labelled unseen room.
dknet evaluate --split val --split-file "$work/unseen/scannetv2_unseen.txt" --data "$work/unseen" \
  --checkpoint "$work/bundle/dknet-default.pth.xz" --device "$device" --json "$work/unseen.json" \
  --csv "$work/unseen.csv" --overwrite
"${bundle[@]}" --scores "$work/unseen.json"
echo "total wall time $(($(stamp) - t0)) s"
echo "to ship it: cp $work/bundle/dknet-default.{pth.xz,json} $here/src/dknet/assets/"
