#!/usr/bin/env bash
# The validation pilots behind the choices of docs/results.md ("How the settings were
# chosen"): one seed each, +experiment=scenes_small, scored on the 10 val photos with the
# 64x64 center hole (never on test). Writes docs/results/pilots.csv and the plaid figure
# docs/images/plaid_before_after.png. Each run is one change away from another; the
# overrides restate the values of the time (1,000 batches, lr 2e-4, no schedule, transposed
# convs), so the commands keep their meaning after the experiment's defaults moved.
#
#   scripts/pilots.sh                           # ~90 min of this 2-core CPU, 2 runs at a time
#   SCENES=/path/to/photos WORK=/tmp/p scripts/pilots.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
SCENES=${SCENES:-../shared/data/scenes}
WORK=${WORK:-outputs/pilots}
DOCS=${DOCS:-docs/results}
FIGURE=${FIGURE:-docs/images/plaid_before_after.png}
export PYTHONUNBUFFERED=1 WANDB_MODE=offline WANDB_SILENT=true OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
EVAL=(data=folder "data.root=$SCENES" data.size=128 data.source.split=fraction data.source.unit=scene
      data.source.val_fraction=0.0885 data.source.test_fraction=0.2035 data.source.seed=0
      data.num_workers=0 data.persistent_workers=false mask=center split=val seed=42
      device=cpu progress=false save_images=true)
# The settings of the first pilots (the experiment's defaults before they were chosen).
BASE=(max_batches=1000 optim.generator.lr=2e-4 optim.discriminator.lr=2e-4 optim.scheduler=null
      model.generator.upsample=transpose)
LONG=(max_batches=2000 optim.generator.lr=4e-4 optim.discriminator.lr=4e-4
      'optim.scheduler={_target_:torch.optim.lr_scheduler.CosineAnnealingLR,_partial_:true,T_max:100}')
mkdir -p "$WORK"

run() {  # run NAME [overrides...]: train on train, score on val
  local name=$1; shift
  "$PY" -m inpaintgan.train +experiment=scenes_small "data.root=$SCENES" "$@" \
    "hydra.run.dir=$WORK/$name" > "$WORK/$name.log" 2>&1
  "$PY" -m inpaintgan.evaluate "${EVAL[@]}" "ckpt=$WORK/$name/checkpoints/last.ckpt" \
    "name=$name" "out=$WORK/eval_$name" overwrite=true > "$WORK/eval_$name.log" 2>&1
  echo "$name: $*" > "$WORK/eval_$name/overrides.txt"
  echo "piloted $name"
}

lane_a() {
  run paper_plain_box model=paper "${BASE[@]}"
  run paper_disc_box model=paper "${BASE[@]}" loss.hole_discount=0.99
  run paper_noadv model=paper "${BASE[@]}" loss.adv_weight=0
  run paper_2k_cos_lr4 model=paper "${LONG[@]}" model.generator.upsample=transpose
  run paper_2k_cos_lr4_resize model=paper "${LONG[@]}" model.generator.upsample=resize
}
lane_b() {
  run shiftnet_plain_box model=shiftnet "${BASE[@]}"
  run paper_plain_full model=paper "${BASE[@]}" model.discriminator_input.mode=full
  run paper_noshift model=paper "${BASE[@]}" model.generator.shift_level=null
  run ce_center model=ce mask=center "${BASE[@]}"
  run shiftnet_2k_cos_lr4 model=shiftnet "${LONG[@]}" model.generator.upsample=transpose
  run paper_2k_cos_lr4_sn model=paper "${LONG[@]}" model.generator.upsample=transpose \
    model.discriminator.norm=spectral
}
for name in mean_fill telea; do
  "$PY" -m inpaintgan.evaluate "${EVAL[@]}" "model=$name" "name=$name" \
    "out=$WORK/eval_$name" overwrite=true > "$WORK/eval_$name.log" 2>&1
done
lane_a & lane_b & wait

# pilots.csv: val PSNR / SSIM of every pilot, with its overrides.
"$PY" - "$WORK" "$DOCS/pilots.csv" <<'EOF'
import csv, json, sys
from pathlib import Path

work, target = Path(sys.argv[1]), Path(sys.argv[2])
rows = []
for ev in sorted(work.glob("eval_*")):
    metrics = json.loads((ev / "metrics.json").read_text())
    overrides = (ev / "overrides.txt").read_text().split(":", 1)[1].strip() \
        if (ev / "overrides.txt").is_file() else f"model={metrics['model']}"
    rows.append({"run": ev.name.removeprefix("eval_"), "val_psnr": f"{metrics['psnr']:.3f}",
                 "val_ssim": f"{metrics['ssim']:.4f}", "n_images": metrics["n_images"],
                 "overrides": overrides})
target.parent.mkdir(parents=True, exist_ok=True)
with target.open("w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
print(f"wrote {target}")
EOF

# The plaid, before and after: the same val photos filled by the paper model at the first
# pilot setting, without the GAN term, without the shift layer, at the chosen budget /
# learning rate, and with resize upsampling.
"$PY" scripts/sample_figure.py --overwrite "$SCENES" val "$FIGURE" \
  "1k, convT=$WORK/eval_paper_plain_box/images" "1k, no GAN=$WORK/eval_paper_noadv/images" \
  "1k, no shift=$WORK/eval_paper_noshift/images" \
  "2k cos, convT=$WORK/eval_paper_2k_cos_lr4/images" \
  "2k cos, resize=$WORK/eval_paper_2k_cos_lr4_resize/images"
