#!/usr/bin/env bash
# Small-scale reproduction of the paper's Table 1 (docs/results.md), end to end:
# trains ce, shiftnet, paper and the two ablations with +experiment=scenes_small (one after
# the other), evaluates them and OpenCV Telea / Navier-Stokes on the held-out photos with
# the center mask, and writes the small text artefacts to docs/results/ and the sample
# figure to docs/images/results_samples.png. About 50 min on a 2-core CPU.
#
#   scripts/results.sh                         # photos in ../shared/data/scenes
#   SCENES=/path/to/photos WORK=/tmp/r scripts/results.sh
#   PART=investigation scripts/results.sh      # the follow-up runs of docs/results.md
#                                              # (~25 min; PART=all runs both parts, ~75 min)
#
# SCENES: a folder of photos (split 90/23 by photo, seeded). WORK: checkpoints, logs and
# saved images (large; default outputs/results_scenes_small, git-ignored). DOCS / FIGURE:
# where the artefacts go. TRAIN_ARGS: extra training overrides, for a smoke test only
# (TRAIN_ARGS="max_batches=2 trainer.log_every_n_steps=1" WORK=/tmp/w DOCS=/tmp/d
# FIGURE=/tmp/f.png scripts/results.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
SCENES=${SCENES:-../shared/data/scenes}
WORK=${WORK:-outputs/results_scenes_small}
DOCS=${DOCS:-docs/results}
FIGURE=${FIGURE:-docs/images/results_samples.png}
read -r -a TRAIN_ARGS <<< "${TRAIN_ARGS:-}"
PART=${PART:-table}  # table | investigation | all | none (only define the functions)
export PYTHONUNBUFFERED=1 WANDB_MODE=offline WANDB_SILENT=true

# Evaluation data: the experiment's data settings, its val split (never trained on).
EVAL=(data=folder "data.root=$SCENES" data.size=128 data.source.split=fraction
      data.source.val_fraction=0.2 data.source.test_fraction=0.0 data.source.seed=0
      data.num_workers=0 data.persistent_workers=false mask=center split=val seed=42
      device=cpu save_images=true progress=false)

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

evaluate() {  # evaluate NAME [ckpt=... | model=...] [name=LABEL]
  local name=$1; shift
  local start end
  rm -rf "$WORK/eval/$name"
  start=$(date +%s.%N)
  "$PY" -m inpaintgan.evaluate "${EVAL[@]}" "$@" "out=$WORK/eval/$name" \
    > "$WORK/logs/eval_$name.log" 2>&1
  end=$(date +%s.%N)
  awk "BEGIN { print $end - $start }" > "$WORK/eval/$name/eval_wall_seconds.txt"
  echo "evaluated $name"
}

collect() {  # collect DOCS_DIR TRAINED,RUNS CLASSICAL,RUNS: text artefacts, checks
  "$PY" - "$WORK" "$SCENES" "$1" "$2" "$3" <<'EOF'
import csv, json, shutil, sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from inpaintgan.config import CONFIG_DIR

work, scenes, docs = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
trained = [r for r in sys.argv[4].split(",") if r]
runs = trained + [r for r in sys.argv[5].split(",") if r]

# The split the trainings used, from the experiment config itself.
with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=["+experiment=scenes_small", f"data.root={scenes}"])
source = instantiate(cfg.data.source)
train_files, val_files = source.paths("train"), source.paths("val")
assert not set(train_files) & set(val_files), "a photo is in both splits"
val_stems = sorted(p.stem for p in val_files)

docs.mkdir(parents=True, exist_ok=True)
with (docs / "split.csv").open("w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["file", "split"])
    for split, files in (("train", train_files), ("val", val_files)):
        w.writerows([p.name, split] for p in files)

summary = []
for run in runs:
    out = docs / run
    out.mkdir(exist_ok=True)
    ev = work / "eval" / run
    metrics = json.loads((ev / "metrics.json").read_text())
    with (ev / "per_image.csv").open() as f:
        names = sorted(row["name"] for row in csv.DictReader(f))
    assert names == val_stems, f"{run}: evaluated images are not the val split"
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
    summary.append({"run": run, "psnr": metrics["psnr"], "ssim": metrics["ssim"],
                    "hole_psnr": metrics["hole_psnr"], "hole_l1": metrics["hole_l1"],
                    "n_images": metrics["n_images"], **timing})

with (docs / "summary.csv").open("w", newline="") as f:
    fields = ["run", "psnr", "ssim", "hole_psnr", "hole_l1", "n_images", "train_seconds",
              "eval_seconds", "eval_wall_seconds"]
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    w.writerows(summary)
print(f"split: {len(train_files)} train / {len(val_files)} val photos, disjoint")
for s in summary:
    print(f"{s['run']:22s} PSNR {s['psnr']:.2f}  SSIM {s['ssim']:.4f}  hole PSNR "
          f"{s['hole_psnr']:.2f}  train {s.get('train_seconds', 0):.0f} s  "
          f"eval {s['eval_seconds']:.2f} s")
EOF
}

if [[ $PART == table || $PART == all ]]; then
# 1. Train: the same data, budget and seed for every variant (conf/experiment/scenes_small.yaml).
train ce             model=ce
train shiftnet       model=shiftnet
train paper          model=paper
train paper_no_se    model=paper 'model.generator.se_levels=[]'
train paper_no_shift model=paper model.generator.shift_level=null

# 2. Evaluate the last checkpoint of each run (no selection on the val photos), then the
#    classical baselines on the same images and masks.
for name in ce shiftnet paper; do
  evaluate "$name" "ckpt=$WORK/train/$name/checkpoints/last.ckpt"
done
for name in paper_no_se paper_no_shift; do
  evaluate "$name" "ckpt=$WORK/train/$name/checkpoints/last.ckpt" "name=$name"
done
evaluate telea model=telea
evaluate ns model=ns

# 3. Small text artefacts for docs/ and the notebook (checks the split and that every
#    evaluation scored exactly the val photos), the figure, the report table.
collect "$DOCS" ce,shiftnet,paper,paper_no_se,paper_no_shift telea,ns

"$PY" - "$WORK" "$SCENES" "$FIGURE" <<'EOF'
# The sample figure: masked | CE | Shift-Net | ours | ground truth, for every third of the
# val photos whose licence allows redistribution (chosen before looking at any output).
import sys
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image, ImageDraw

from inpaintgan.config import CONFIG_DIR

work, scenes, target = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
REDISTRIBUTABLE = ("CC0", "CC-BY", "GPL")  # licences of shared/data/embeddable/scenes
with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=["+experiment=scenes_small", f"data.root={scenes}"])
datamodule = instantiate(cfg.data, mask=instantiate(cfg.mask), seed=cfg.seed)
dataset = datamodule.dataset("val")
licences = {}
sources = Path(scenes) / "SOURCES.tsv"
if sources.is_file():
    for line in sources.read_text().splitlines()[1:]:
        fields = line.split("\t")
        licences[fields[0]] = fields[-1]
free = [i for i in range(len(dataset))
        if licences.get(dataset.path(i).name, "").startswith(REDISTRIBUTABLE)]
rows = (free or list(range(len(dataset))))[::3][:4]

columns = [("masked", None), ("CE", "ce"), ("Shift-Net", "shiftnet"), ("ours", "paper"),
           ("ground truth", None)]
size, pad, header = 128, 2, 16
canvas = Image.new("RGB", (len(columns) * (size + pad) - pad,
                           header + len(rows) * (size + pad) - pad), "white")
draw = ImageDraw.Draw(canvas)
for c, (title, _) in enumerate(columns):
    draw.text((c * (size + pad) + 4, 2), title, fill="black")
for r, index in enumerate(rows):
    sample = dataset[index]
    image = sample["image"].permute(1, 2, 0).numpy()
    mask = sample["mask"][0].numpy()[..., None]
    tiles = {"masked": image * (1 - mask) + mask, "ground truth": image}
    for c, (title, run) in enumerate(columns):
        if run is None:
            tile = Image.fromarray((tiles[title] * 255).round().astype(np.uint8))
        else:
            tile = Image.open(work / "eval" / run / "images" / f"{sample['name']}.png")
        canvas.paste(tile, (c * (size + pad), header + r * (size + pad)))
    print("figure row:", sample["name"], licences.get(dataset.path(index).name, "?"))
target.parent.mkdir(parents=True, exist_ok=True)
canvas.save(target, optimize=True)
if target.stat().st_size > 500_000:  # keep the committed figure small
    canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
print(f"wrote {target} ({target.stat().st_size // 1024} KiB)")
EOF

main_runs=$(printf "$DOCS/%s," ce shiftnet paper paper_no_se paper_no_shift telea ns)
"$PY" -m inpaintgan.report "runs=[${main_runs%,}]" "out=$DOCS/table.md" > /dev/null
echo "wrote $DOCS/ (metrics.json, per_image.csv, train_metrics.csv, timing.json per run;"
echo "summary.csv, split.csv, table.md) and $FIGURE"
fi

if [[ $PART == investigation || $PART == all ]]; then
# 4. Follow-up runs, chosen after seeing the table (docs/results.md, "Why"): the same
#    data, seed, budget and evaluation. Without the style term (no VGG16) a run is ~10x
#    cheaper, which makes the 4x budget affordable; "paper - SE - style" differs from
#    shiftnet only in the discriminator (DCGAN + BatchNorm vs PatchGAN + spectral norm).
investigation=(paper_no_style paper_no_se_no_style shiftnet_no_gan shiftnet_x4
               paper_no_style_x4 paper_patchgan_no_style shiftnet_no_norm)
PATCHGAN=(model.discriminator._target_=inpaintgan.models.discriminators.PatchGANDiscriminator
          '~model.discriminator.image_size' +model.discriminator.n_layers=3
          model.discriminator.norm=spectral)
train paper_no_style       model=paper loss.style_weight=0
train paper_no_se_no_style model=paper 'model.generator.se_levels=[]' loss.style_weight=0
train shiftnet_no_gan      model=shiftnet loss.adv_weight=0
train shiftnet_x4          model=shiftnet max_batches=4000
train paper_no_style_x4    model=paper loss.style_weight=0 max_batches=4000
# Two diagnostics added after the five above: the paper model (style off) with Shift-Net's
# discriminator, and Shift-Net without InstanceNorm (do the fills ignore the context colour
# because the 2x2 / 4x4 levels are instance-normalised?).
train paper_patchgan_no_style model=paper loss.style_weight=0 "${PATCHGAN[@]}"
train shiftnet_no_norm     model=shiftnet model.generator.norm=none
for name in "${investigation[@]}"; do
  evaluate "$name" "ckpt=$WORK/train/$name/checkpoints/last.ckpt" "name=$name"
done
collect "$DOCS/investigation" "$(IFS=,; echo "${investigation[*]}")" ""

# How far the mean colour of each fill is from the true hole's (mean absolute error over
# RGB and photos), against the trivial guess "the mean of an 8-px ring around the hole".
"$PY" - "$WORK" "$SCENES" "$DOCS/investigation/hole_colour_error.csv" <<'EOF'
import csv, sys
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image

from inpaintgan.config import CONFIG_DIR

work, scenes, target = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
    cfg = compose("train", overrides=["+experiment=scenes_small", f"data.root={scenes}"])
dataset = instantiate(cfg.data, mask=instantiate(cfg.mask), seed=cfg.seed).dataset("val")
runs = ["ce", "shiftnet", "paper", "telea", "ns", "shiftnet_x4", "shiftnet_no_norm",
        "paper_patchgan_no_style", "paper_no_style_x4"]
errors = {name: [] for name in ["border ring (8 px)", *runs]}
for index in range(len(dataset)):
    sample = dataset[index]
    image = sample["image"].permute(1, 2, 0).numpy()
    hole = sample["mask"][0].numpy().astype(bool)
    truth = image[hole].mean(0)
    ring = np.zeros_like(hole)
    ring[24:104, 24:104] = True  # the 64x64 center hole of a 128 crop, grown by 8 px
    ring &= ~hole
    errors["border ring (8 px)"].append(np.abs(image[ring].mean(0) - truth).mean())
    for run in runs:
        fill = Image.open(work / "eval" / run / "images" / f"{sample['name']}.png")
        fill = np.asarray(fill).astype(np.float32) / 255
        errors[run].append(np.abs(fill[hole].mean(0) - truth).mean())
with target.open("w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["fill", "mean_abs_error_of_hole_mean_colour"])
    for name, values in errors.items():
        writer.writerow([name, f"{np.mean(values):.4f}"])
        print(f"{name:25s} {np.mean(values):.4f}")
EOF
fi
