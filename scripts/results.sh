#!/usr/bin/env bash
# Small-scale reproduction of the paper's Table 1 (docs/results.md), end to end, on the
# protocol of issue 17: the 113 scene photos split by photo into 80 train / 10 val / 23 test
# (conf/experiment/scenes_small.yaml). Settings were chosen on val (docs/results.md, "How the
# settings were chosen"); this script scores each final setting once, on test.
#   - trains ce, shiftnet, paper and paper_resize (3 seeds each, one after the other),
#   - evaluates each end-of-training state and mean_fill / Telea / Navier-Stokes on the test
#     photos with the 64x64 center hole,
#   - writes docs/results/ (per run: metrics.json, per_image.csv, train_metrics.csv,
#     train_config.yaml, timing.json; summary.csv, split.csv, table.md with the paired
#     differences from `inpaintgan.report`) and docs/images/results_samples.png.
#
#   scripts/results.sh                          # photos in ../shared/data/scenes
#   SEEDS="1 2 3" MODELS="paper shiftnet" scripts/results.sh
#   SCENES=/path/to/photos WORK=/tmp/r scripts/results.sh
#
# SCENES: a folder of photos. WORK: checkpoints, logs and saved images (default
# outputs/results_scenes_small, git-ignored). DOCS / FIGURE: where the artefacts go.
# TRAIN_ARGS: extra training overrides, for a smoke test only
# (TRAIN_ARGS="max_batches=2" SEEDS=1 WORK=/tmp/w DOCS=/tmp/d FIGURE=/tmp/f.png scripts/results.sh).
# THREADS: torch threads per process (default: all cores). SKIP_DONE=1 keeps every run whose
# evaluation is already in WORK (to finish an interrupted table, or run the models in parts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
SCENES=${SCENES:-../shared/data/scenes}
WORK=${WORK:-outputs/results_scenes_small}
DOCS=${DOCS:-docs/results}
FIGURE=${FIGURE:-docs/images/results_samples.png}
SEEDS=${SEEDS:-1 2 3}
MODELS=${MODELS:-ce shiftnet paper paper_resize}
read -r -a TRAIN_ARGS <<< "${TRAIN_ARGS:-}"
export PYTHONUNBUFFERED=1 WANDB_MODE=offline WANDB_SILENT=true
if [[ -n ${THREADS:-} ]]; then export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS; fi

# The experiment's split; scored on its test part with the center hole (never trained or
# tuned on).
SPLIT=(data=folder "data.root=$SCENES" data.size=128 data.source.split=fraction data.source.unit=scene
       data.source.val_fraction=0.0885 data.source.test_fraction=0.2035 data.source.seed=0
       data.num_workers=0 data.persistent_workers=false)
EVAL=("${SPLIT[@]}" mask=center split=test seed=42 device=cpu save_images=true progress=false)

mkdir -p "$WORK/train" "$WORK/eval" "$WORK/logs"

train() {  # train NAME [overrides...]
  local name=$1; shift
  local start end
  rm -rf "$WORK/train/$name"
  start=$(date +%s.%N)
  "$PY" -m inpaintgan.train +experiment=scenes_small "data.root=$SCENES" "$@" \
    "${TRAIN_ARGS[@]}" "hydra.run.dir=$WORK/train/$name" > "$WORK/logs/train_$name.log" 2>&1
  end=$(date +%s.%N)
  awk "BEGIN { print $end - $start }" > "$WORK/train/$name/train_seconds.txt"
  echo "trained $name in $(cat "$WORK/train/$name/train_seconds.txt") s"
}

evaluate() {  # evaluate RUN LABEL [ckpt=... | model=...]
  local run=$1 label=$2; shift 2
  local start end
  rm -rf "$WORK/eval/$run"
  start=$(date +%s.%N)
  "$PY" -m inpaintgan.evaluate "${EVAL[@]}" "$@" "name=$label" "out=$WORK/eval/$run" \
    > "$WORK/logs/eval_$run.log" 2>&1
  end=$(date +%s.%N)
  awk "BEGIN { print $end - $start }" > "$WORK/eval/$run/eval_wall_seconds.txt"
  echo "evaluated $run"
}

# What each variant trains with: the experiment's defaults (mixed masks) except CE, which
# predicts only the center patch and trains on its own center protocol.
# paper_resize: the paper model with resize-convolution upsampling (the plaid's cure).
declare -A MODEL_ARGS=([paper]="model=paper" [shiftnet]="model=shiftnet"
                       [ce]="model=ce mask=center"
                       [paper_resize]="model=paper model.generator.upsample=resize")

# 1. Train every variant and seed, then score the end-of-training state (no selection).
trained=()
for model in $MODELS; do
  for seed in $SEEDS; do
    trained+=("${model}_s$seed")
    if [[ ${SKIP_DONE:-0} == 1 && -f $WORK/eval/${model}_s$seed/metrics.json ]]; then
      echo "kept ${model}_s$seed"; continue
    fi
    read -r -a args <<< "${MODEL_ARGS[$model]}"
    train "${model}_s$seed" "${args[@]}" "seed=$seed"
    evaluate "${model}_s$seed" "$model" "ckpt=$WORK/train/${model}_s$seed/checkpoints/last.ckpt"
  done
done
# 2. The classical baselines on the same photos and holes.
classical=(mean_fill telea ns)
for name in "${classical[@]}"; do
  if [[ ${SKIP_DONE:-0} == 1 && -f $WORK/eval/$name/metrics.json ]]; then continue; fi
  evaluate "$name" "$name" "model=$name"
done

# 3. Text artefacts (checks the split and that every run scored exactly the test photos).
"$PY" - "$WORK" "$SCENES" "$DOCS" "$(IFS=,; echo "${trained[*]}")" \
  "$(IFS=,; echo "${classical[*]}")" <<'EOF'
import csv, json, shutil, sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from inpaintgan.config import CONFIG_DIR

work, scenes, docs = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
trained = [r for r in sys.argv[4].split(",") if r]
runs = trained + [r for r in sys.argv[5].split(",") if r]

with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=["+experiment=scenes_small", f"data.root={scenes}"])
source = instantiate(cfg.data.source)
splits = {name: source.paths(name) for name in ("train", "val", "test")}
names = {name: {p.name for p in paths} for name, paths in splits.items()}
assert not (names["train"] & names["val"] or names["train"] & names["test"]
            or names["val"] & names["test"]), "a photo is in two splits"
test_stems = sorted(p.stem for p in splits["test"])

docs.mkdir(parents=True, exist_ok=True)
with (docs / "split.csv").open("w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["file", "split"])
    for split, files in splits.items():
        w.writerows([p.name, split] for p in files)

summary = []
for run in runs:
    out = docs / run
    out.mkdir(exist_ok=True)
    ev = work / "eval" / run
    metrics = json.loads((ev / "metrics.json").read_text())
    with (ev / "per_image.csv").open() as f:
        scored = sorted(row["name"] for row in csv.DictReader(f))
    assert scored == test_stems, f"{run}: evaluated images are not the test split"
    shutil.copy(ev / "metrics.json", out / "metrics.json")
    shutil.copy(ev / "per_image.csv", out / "per_image.csv")
    timing = {"eval_seconds": metrics["seconds"],
              "eval_wall_seconds": float((ev / "eval_wall_seconds.txt").read_text())}
    if run in trained:
        tr = work / "train" / run
        shutil.copy(tr / "csv" / "metrics.csv", out / "train_metrics.csv")
        shutil.copy(tr / ".hydra" / "config.yaml", out / "train_config.yaml")
        timing["train_seconds"] = float((tr / "train_seconds.txt").read_text())
    (out / "timing.json").write_text(json.dumps(timing, indent=2) + "\n")
    summary.append({"run": run, "label": metrics.get("name") or metrics["model"],
                    "psnr": metrics["psnr"], "ssim": metrics["ssim"],
                    "hole_psnr": metrics["hole_psnr"], "hole_l1": metrics["hole_l1"],
                    "n_images": metrics["n_images"], **timing})

with (docs / "summary.csv").open("w", newline="") as f:
    fields = ["run", "label", "psnr", "ssim", "hole_psnr", "hole_l1", "n_images",
              "train_seconds", "eval_seconds", "eval_wall_seconds"]
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    w.writerows(summary)
print(f"split: {len(splits['train'])} train / {len(splits['val'])} val / "
      f"{len(splits['test'])} test photos, disjoint")
for s in summary:
    print(f"{s['run']:14s} PSNR {s['psnr']:.2f}  SSIM {s['ssim']:.4f}  hole PSNR "
          f"{s['hole_psnr']:.2f}  train {s.get('train_seconds', 0):.0f} s")
EOF

# 4. The figure: masked | CE | Shift-Net | ours | ours, resize | mean fill | Telea | ground
#    truth, seed 1, for every third test photo whose licence allows redistribution.
first=${SEEDS%% *}
columns=()
for pair in ce:CE shiftnet:Shift-Net paper:ours "paper_resize:ours, resize"; do
  model=${pair%%:*}
  [[ " $MODELS " == *" $model "* ]] && columns+=("${pair#*:}=$WORK/eval/${model}_s$first/images")
done
columns+=("mean fill=$WORK/eval/mean_fill/images" "Telea=$WORK/eval/telea/images")
"$PY" scripts/sample_figure.py --overwrite "$SCENES" test "$FIGURE" "${columns[@]}" --every 3

# 5. The table and the paired differences, computed by the report command.
pairs=()
available=" $MODELS ${classical[*]} "
for pair in paper:shiftnet paper:ce shiftnet:ce paper:mean_fill paper:telea \
            shiftnet:mean_fill shiftnet:telea ce:mean_fill paper_resize:paper \
            paper_resize:shiftnet paper_resize:telea; do
  a=${pair%%:*} b=${pair#*:}
  [[ $available == *" $a "* && $available == *" $b "* ]] && pairs+=("[$a,$b]")
done
runs=$(printf "$DOCS/%s," "${trained[@]}" "${classical[@]}")
"$PY" -m inpaintgan.report "runs=[${runs%,}]" "pairs=[$(IFS=,; echo "${pairs[*]}")]" \
  published=true overwrite=true "out=$DOCS/table.md" > /dev/null
echo "wrote $DOCS/ (per run: metrics.json, per_image.csv, train_metrics.csv, timing.json;"
echo "summary.csv, split.csv, table.md) and $FIGURE"
