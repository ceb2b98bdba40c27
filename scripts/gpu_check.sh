#!/usr/bin/env bash
# shellcheck disable=SC2317  # the step_* functions are called indirectly (run_step)
# GPU check (issue 16): what only a GPU can show, in one run of under 8 minutes on one GPU.
# Run from anywhere in the checkout, on a fresh GPU machine that has torch, torchvision and
# lightning but not hydra-core, omegaconf or wandb (they come from wheels/, filled where pip
# reaches PyPI by scripts/gpu_wheels.sh and carried along):
#
#   scripts/gpu_check.sh                  # the GPU run
#   scripts/gpu_check.sh --dry-run        # (or --cpu, or GPU_CHECK_DRY_RUN=1) the same steps
#                                         # on the CPU with tiny sizes: tests the script itself
#   scripts/gpu_check.sh --out DIR        # where the summary goes (else $GPU_CHECK_OUT, else
#                                         # $OUT, else outputs/gpu_check/<date>)
#
# Steps, each with its own time limit inside a total budget, each run even when an earlier
# one failed (a step that needs an earlier one's output fails by itself):
#   install     hydra-core/omegaconf/wandb from wheels/ (only if missing), pip install -e .
#   cuda_tests  pytest -m cuda (tests that need a GPU; skipped only without one)
#   train       a short real training: +experiment=sample trainer=gpu max_batches=N
#   resume      that run resumed from its checkpoints/last.ckpt for more batches
#   bench       python -m inpaintgan.bench: paper model, batch 32, bf16, 256x256, MFU
#   compile     scripts/compile_check.py: fullgraph compile of the generator over three hole
#               sizes, the recompile count, the generator step compiled vs eager
#   ddp         trainer=ddp on 2 GPUs (skipped with fewer)
# Prints one line per check (ok / FAIL / skip, seconds, key numbers) and writes
# gpu_check_summary.{txt,json}, gpu_check.log (every step's output) and bench_b32.json to
# the output folder. Exit status 1 when any check failed.
#
# Environment: GPU_CHECK_PY (python; default .venv/bin/python if present, else python3),
# GPU_CHECK_WHEELS (wheels), GPU_CHECK_BUDGET_S (460: all steps together),
# GPU_CHECK_STEPS (a subset, e.g. "install bench"), GPU_CHECK_TRAIN_BATCHES (60).
set -u
set -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT=$PWD

DRY=${GPU_CHECK_DRY_RUN:-0}
OUT_DIR=${GPU_CHECK_OUT:-${OUT:-}}
while (($#)); do
  case $1 in
    --dry-run | --cpu) DRY=1 ;;
    --out)
      OUT_DIR=${2:?--out needs a folder}
      shift
      ;;
    -h | --help)
      sed -n '3,/^set -u/p' "${BASH_SOURCE[0]}" | sed '$d'
      exit 0
      ;;
    *)
      echo "gpu_check.sh: unknown argument '$1' (use --dry-run, --out DIR, --help)" >&2
      exit 2
      ;;
  esac
  shift
done
[[ $DRY == 1 ]] || DRY=0
[[ -n $OUT_DIR ]] || OUT_DIR=outputs/gpu_check/$(date +%Y-%m-%d_%H-%M-%S)
mkdir -p "$OUT_DIR" && OUT_DIR=$(cd "$OUT_DIR" && pwd) || exit 2

PY=${GPU_CHECK_PY:-}
if [[ -z $PY ]]; then
  if [[ -x .venv/bin/python ]]; then PY=$ROOT/.venv/bin/python; else PY=python3; fi
fi
WHEELS=${GPU_CHECK_WHEELS:-wheels}
BUDGET=${GPU_CHECK_BUDGET_S:-460}
STEPS=${GPU_CHECK_STEPS:-install cuda_tests train resume bench compile ddp}
TRAIN_BATCHES=${GPU_CHECK_TRAIN_BATCHES:-60}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX") || exit 2
LOGS=$WORK/logs
mkdir -p "$LOGS"
: >"$LOGS/steps.tsv"
START=$SECONDS
STEP_END=$SECONDS

export PYTHONUNBUFFERED=1 WANDB_MODE=offline WANDB_SILENT=true HYDRA_FULL_ERROR=1
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}

# The training runs: the embedded sample photos, CSV logs, a validation batch every epoch.
TRAIN=(+experiment=sample logger=csv trainer.enable_progress_bar=false
  trainer.check_val_every_n_epoch=1 trainer.limit_val_batches=1
  callbacks.image_grid.every_n_batches=100000)
if ((DRY)); then
  TRAIN_BATCHES=2
  TRAINER=trainer=cpu
  TRAIN+=(trainer.log_every_n_steps=1 data.size=64 data.load_size=80
    model.generator.base_channels=8 model.discriminator.base_channels=8)
  BENCH=(device=cpu precision=32 size=64 batch_size=2 threads=2 warmup=0 repeats=1
    model.generator.base_channels=8 model.discriminator.base_channels=8)
  COMPILE=(--device cpu --tiny --backend eager --size 64 --batch-size 1 --repeats 1)
else
  TRAINER=trainer=gpu
  BENCH=(device=cuda precision=bf16 size=256 batch_size=32 warmup=2 repeats=5)
  COMPILE=(--device cuda --size 256 --batch-size 8 --repeats 5)
fi

limited() { # limited CMD...: CMD under the time left to the current step
  local left=$((STEP_END - SECONDS))
  ((left > 0)) || return 124
  timeout --kill-after=15 "$left" "$@"
}

# ---------------------------------------------------------------------------------- steps
step_install() {
  if "$PY" -c "import hydra, omegaconf, wandb" 2>/dev/null; then
    echo "gpu_check: hydra-core, omegaconf and wandb were already installed"
  else
    if [[ ! -d $WHEELS ]]; then
      echo "no $WHEELS/ folder: fill it with scripts/gpu_wheels.sh where pip reaches PyPI, carry it"
      return 1
    fi
    limited "$PY" -m pip install --quiet --no-index --no-cache-dir --find-links "$WHEELS" \
      hydra-core omegaconf wandb || return $?
  fi
  if ((DRY)); then
    echo "gpu_check: dry run: no editable install (the checkout is on PYTHONPATH)"
  elif ! limited "$PY" -m pip install --quiet --no-deps --no-build-isolation -e .; then
    echo "gpu_check: pip install -e . failed; the checkout is used through PYTHONPATH"
  fi
  limited "$PY" - <<'EOF'
import importlib.metadata as md

import torch

import inpaintgan  # noqa: F401  (the package imports)

names = ["torch", "pytorch-lightning", "hydra-core", "omegaconf", "wandb"]
found = ", ".join(f"{name} {md.version(name)}" for name in names)
gpus = torch.cuda.device_count()
print(f"gpu_check: {found}; {gpus} CUDA device(s)")
EOF
}

step_cuda_tests() {
  local files
  mapfile -t files < <(grep -l "mark.cuda" tests/test_*.py)
  ((${#files[@]})) || {
    echo "no test file marks a test cuda"
    return 1
  }
  limited "$PY" -m pytest -q -m cuda -p no:cacheprovider "${files[@]}"
}

checkpoint_step() { # checkpoint_step CKPT: "global_step epoch" of a Lightning checkpoint
  "$PY" - "$1" <<'EOF'
import sys

import torch

ckpt = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
print(ckpt["global_step"], ckpt["epoch"])
EOF
}

last_metrics() { # last_metrics RUN_DIR: the last val/psnr and train/images_per_s logged
  "$PY" - "$1/csv/metrics.csv" <<'EOF'
import csv
import sys
from pathlib import Path

path = Path(sys.argv[1])
rows = list(csv.DictReader(path.open())) if path.is_file() else []
last = {}
for row in rows:
    last.update({k: v for k, v in row.items() if v not in ("", None)})
psnr, ips = last.get("val/psnr"), last.get("train/images_per_s")
print(f"val/psnr {float(psnr):.2f} dB" if psnr else "no val/psnr", end="")
print(f", {float(ips):.1f} img/s in the last step" if ips else "")
EOF
}

step_train() {
  limited "$PY" -m inpaintgan.train "${TRAIN[@]}" "$TRAINER" max_batches="$TRAIN_BATCHES" \
    hydra.run.dir="$WORK/train" || return $?
  local ckpt=$WORK/train/checkpoints/last.ckpt
  [[ -f $ckpt ]] || {
    echo "no $ckpt after training"
    return 1
  }
  echo "gpu_check: $TRAIN_BATCHES batches; last.ckpt at step/epoch $(checkpoint_step "$ckpt");" \
    "$(last_metrics "$WORK/train")"
}

step_resume() {
  local ckpt=$WORK/train/checkpoints/last.ckpt
  [[ -f $ckpt ]] || {
    echo "no $ckpt: the train step did not write one"
    return 1
  }
  local before after more=$((TRAIN_BATCHES / 2 > 0 ? TRAIN_BATCHES / 2 : 1))
  before=$(checkpoint_step "$ckpt") || return 1
  limited "$PY" -m inpaintgan.train "${TRAIN[@]}" "$TRAINER" \
    max_batches=$((TRAIN_BATCHES + more)) \
    ckpt="$ckpt" hydra.run.dir="$WORK/resume" || return $?
  after=$(checkpoint_step "$WORK/resume/checkpoints/last.ckpt") || return 1
  echo "gpu_check: resumed at step/epoch $before, ended at $after (+$more batches)"
  ((${after%% *} > ${before%% *})) || {
    echo "the resumed run did not advance"
    return 1
  }
}

step_bench() {
  limited "$PY" -m inpaintgan.bench model=paper "${BENCH[@]}" \
    'parts=[forward,train_step,flops,mfu]' out="$OUT_DIR/bench_b32.json"
}

step_compile() {
  limited "$PY" scripts/compile_check.py "${COMPILE[@]}"
}

step_ddp() {
  local gpus
  if ((DRY)); then
    echo "gpu_check: dry run: DDP needs 2 GPUs (CI runs trainer=ddp_cpu)"
    return 99
  fi
  gpus=$("$PY" -c "import torch; print(torch.cuda.device_count())") || return 1
  if ((gpus < 2)); then
    echo "gpu_check: $gpus GPU: trainer=ddp needs 2"
    return 99
  fi
  limited "$PY" -m inpaintgan.train "${TRAIN[@]}" trainer=ddp trainer.devices=2 \
    max_batches=20 hydra.run.dir="$WORK/ddp" || return $?
  [[ -f $WORK/ddp/checkpoints/last.ckpt ]] || {
    echo "no last.ckpt after DDP training"
    return 1
  }
  echo "gpu_check: 2 GPUs, 20 batches; $(last_metrics "$WORK/ddp")"
}

# ---------------------------------------------------------------------------------- runner
run_step() { # run_step NAME LIMIT_S: step_NAME with its log, exit status and seconds
  local name=$1 limit=$2 code t0 secs
  [[ " $STEPS " == *" $name "* ]] || return 0
  local left=$((BUDGET - (SECONDS - START)))
  if ((left < 20)); then
    echo "gpu_check: not run: the time budget of $BUDGET s is spent" >"$LOGS/$name.log"
    printf '%s\t%s\t%s\n' "$name" 98 0 >>"$LOGS/steps.tsv"
    echo "== $name: not run (time budget spent)"
    return 0
  fi
  ((limit < left)) || limit=$left
  STEP_END=$((SECONDS + limit))
  t0=${EPOCHREALTIME:-$(date +%s.%N)}
  ("step_$name") >"$LOGS/$name.log" 2>&1
  code=$?
  secs=$(awk -v a="$t0" -v b="${EPOCHREALTIME:-$(date +%s.%N)}" 'BEGIN { printf "%.1f", b - a }')
  printf '%s\t%s\t%s\n' "$name" "$code" "$secs" >>"$LOGS/steps.tsv"
  echo "== $name: exit $code after $secs s (limit $limit s)"
}

mode="GPU run"
((DRY)) && mode="dry run on the CPU"
device=$("$PY" -c "import torch; n = torch.cuda.device_count(); \
print(f'{n} x {torch.cuda.get_device_name()}' if n else 'no CUDA device')" 2>/dev/null) ||
  device="torch not importable"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "no git")
echo "gpu_check ($mode): $device; commit $commit; $(date -u +%Y-%m-%dT%H:%M:%SZ)" |
  tee "$LOGS/header.txt"

run_step install 120
run_step cuda_tests 150
run_step train 120
run_step resume 90
run_step bench 150
run_step compile 240
run_step ddp 150

echo
"$PY" "$ROOT/scripts/gpu_check_summary.py" "$LOGS" "$OUT_DIR" ||
  python3 "$ROOT/scripts/gpu_check_summary.py" "$LOGS" "$OUT_DIR"
status=$?
{
  while IFS=$'\t' read -r name _ _; do
    echo "=================== $name"
    tail -n 300 "$LOGS/$name.log"
  done <"$LOGS/steps.tsv"
} >"$OUT_DIR/gpu_check.log"
echo "written: $OUT_DIR/gpu_check_summary.txt, gpu_check_summary.json, gpu_check.log"
rm -rf "$WORK"
exit "$status"
