#!/usr/bin/env bash
# Issue 23: the ablation that tests the paper's claim, on scenes_small (split by scene).
#   paper            the paper model, SE squeezing the multi-scale features (the default)
#   paper_prenorm    SE squeezing the encoder conv's output before its InstanceNorm
#   paper_inert      SE squeezing its normed input (the literal eq. 1; S constant: inert)
#   paper_nose       the paper model without SE blocks (se_levels=[])
#   shiftnet         Shift-Net
#   paper_nonorm     the paper model without norm layers in G (pilot: does InstanceNorm cost colour?)
#   paper_batchnorm  the paper model with BatchNorm in G (pilot)
#   paper_ringfill   the paper model, hole of the input painted with the ring's mean colour (pilot)
# Each run is trained with the experiment's recipe and its end-of-training state is scored on
# the val photos AND on the test photos (64x64 center hole), next to mean fill / Telea / NS.
#   LANE=1/2 scripts/ablation.sh      # lane i of n: every n-th (variant, seed), for 2 cores
#   SEEDS="1 2 3" VARIANTS="paper shiftnet" scripts/ablation.sh
#   WORK=outputs/lever/half_2k TRAIN_ARGS="data.train_subset=40 optim.scheduler.T_max=200" \
#     SPLITS="val test train" SEEDS=1 VARIANTS=paper scripts/ablation.sh   # a lever-pilot cell
# WORK: checkpoints, logs, evaluations (default outputs/ablation, git-ignored).
# The committed 2k ablation (docs/results/issue23/{val,test}) ran with the grey hole:
# TRAIN_ARGS=model.generator.hole_fill=zero reproduces it (the small recipe's default is
# now ring_mean). The final setting: EXPERIMENT=scenes_6k WORK=outputs/final6k.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
SCENES=${SCENES:-../shared/data/scenes}
WORK=${WORK:-outputs/ablation}
SEEDS=${SEEDS:-1 2 3}
VARIANTS=${VARIANTS:-paper paper_inert paper_nose shiftnet}
LANE=${LANE:-1/1}
EXPERIMENT=${EXPERIMENT:-scenes_small}   # scenes_6k: the final setting (6,000 batches)
CLASSICAL=${CLASSICAL:-1}   # 0: leave the classical fills to another lane
SPLITS=${SPLITS:-val test}
PAIRS=${PAIRS:-paper:shiftnet paper:paper_nose paper:paper_inert paper_inert:paper_nose \
paper_prenorm:paper paper:telea paper:mean_fill shiftnet:telea shiftnet:mean_fill}  # report   # add train for the generalisation gap (center crops of the train photos)
read -r -a TRAIN_ARGS <<< "${TRAIN_ARGS:-}"
export PYTHONUNBUFFERED=1 WANDB_MODE=offline WANDB_SILENT=true
export OMP_NUM_THREADS=${THREADS:-1} MKL_NUM_THREADS=${THREADS:-1}
declare -A ARGS=([paper]="model=paper"
                 [paper_prenorm]="model=paper model.generator.se_block.squeeze=pre_norm"
                 [paper_inert]="model=paper model.generator.se_block.squeeze=input"
                 [paper_nose]="model=paper model.generator.se_levels=[]"
                 [paper_nonorm]="model=paper model.generator.norm=none"
                 [paper_batchnorm]="model=paper model.generator.norm=batch"
                 [paper_ringfill]="model=paper model.generator.hole_fill=ring_mean"
                 [shiftnet]="model=shiftnet")
SPLIT=(data=folder "data.root=$SCENES" data.size=128 data.source.split=fraction data.source.unit=scene
       data.source.val_fraction=0.0885 data.source.test_fraction=0.2035 data.source.seed=0
       data.num_workers=0 data.persistent_workers=false)
mkdir -p "$WORK/train" "$WORK/eval" "$WORK/logs"

evaluate() {  # evaluate OUT LABEL SPLIT [ckpt=... | model=...]
  local out=$1 label=$2 split=$3; shift 3
  [[ -f $WORK/eval/$out/metrics.json ]] && return 0
  "$PY" -m inpaintgan.evaluate "${SPLIT[@]}" mask=center "split=$split" seed=42 device=cpu \
    progress=false "$@" "name=$label" "out=$WORK/eval/$out" > "$WORK/logs/eval_$out.log" 2>&1
}

index=0 mine=${LANE%/*} lanes=${LANE#*/}
for seed in $SEEDS; do
  for variant in $VARIANTS; do
    index=$((index + 1))
    (( (index - 1) % lanes + 1 == mine )) || continue
    run=${variant}_s$seed
    if [[ ! -f $WORK/train/$run/checkpoints/last.ckpt || ! -f $WORK/train/$run/train_seconds.txt ]]; then
      rm -rf "$WORK/train/$run"
      read -r -a args <<< "${ARGS[$variant]}"
      start=$(date +%s)
      "$PY" -m inpaintgan.train "+experiment=$EXPERIMENT" "data.root=$SCENES" "${args[@]}" \
        "seed=$seed" "${TRAIN_ARGS[@]}" "hydra.run.dir=$WORK/train/$run" \
        > "$WORK/logs/train_$run.log" 2>&1
      echo $(( $(date +%s) - start )) > "$WORK/train/$run/train_seconds.txt"
    fi
    for split in $SPLITS; do
      evaluate "${run}_$split" "$variant" "$split" "ckpt=$WORK/train/$run/checkpoints/last.ckpt"
    done
    echo "$(date +%T) done $run ($(cat "$WORK/train/$run/train_seconds.txt") s)"
  done
done
if [[ $mine == 1 && $CLASSICAL == 1 ]]; then
  for name in mean_fill telea ns; do
    for split in $SPLITS; do evaluate "${name}_$split" "$name" "$split" "model=$name"; done
  done
fi

# The tables, once every lane is done: REPORT=1 scripts/ablation.sh (after the lanes).
# Writes $DOCS/{val,test}.md (report: means ± sd over seeds, paired differences with the
# two-level interval) and copies each evaluation's metrics.json / per_image.csv there.
if [[ ${REPORT:-0} == 1 && $mine == 1 ]]; then
  DOCS=${DOCS:-docs/results/issue23}
  mkdir -p "$DOCS"
  for split in val test; do
    runs=() labels=" "
    for dir in "$WORK"/eval/*_"$split"; do
      name=$(basename "$dir"); name=${name%_"$split"}
      mkdir -p "$DOCS/$split/$name"
      cp "$dir/metrics.json" "$dir/per_image.csv" "$DOCS/$split/$name/"
      runs+=("$DOCS/$split/$name")
      labels+="$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m.get("name") or m["model"])' "$dir/metrics.json") "
    done
    pairs=()
    count() { local n=0 l; for l in $labels; do [[ $l == "$1" ]] && n=$((n + 1)); done; echo $n; }
    for pair in $PAIRS; do
      a=${pair%%:*} b=${pair#*:}
      na=$(count "$a") nb=$(count "$b")
      # paired seed by seed: equal run counts, or one side a single run (a classical fill)
      (( na > 0 && nb > 0 && (na == nb || na == 1 || nb == 1) )) && pairs+=("[$a,$b]")
    done
    list=$(IFS=,; echo "${runs[*]}")
    "$PY" -m inpaintgan.report "runs=[$list]" "pairs=[$(IFS=,; echo "${pairs[*]}")]" \
      published=false overwrite=true "out=$DOCS/$split.md" > /dev/null
    echo "wrote $DOCS/$split.md"
  done
fi
