#!/usr/bin/env bash
# The exact commands behind docs/performance.md: every row there comes from one of the JSON
# files this writes (docs/performance/<name>.json, with the printed table in <name>.txt).
#
#   scripts/performance.sh               # CPU rows (this project's 2-core machine, 2 threads)
#   PART=cpu-targets|cpu-models|cpu-tried|cpu-profile scripts/performance.sh  # one group
#   PART=gpu scripts/performance.sh      # CUDA rows (bf16 autocast + channels_last by default)
#   OUT=/tmp/perf ROUNDS=1 scripts/performance.sh
#
# Run it on an otherwise idle machine: two-thread OpenMP kernels slow down a lot when any
# other process is busy (each table prints the load average and the cores others used).
# The target rows run ROUNDS times (default 3, minutes apart) to show the spread.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-docs/performance}
ROUNDS=${ROUNDS:-3}
PART=${PART:-cpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

bench() {  # bench NAME OVERRIDES...: one `python -m inpaintgan.bench` run
  local name=$1
  shift
  echo "== $name: python -m inpaintgan.bench $*"
  # (sed drops the profiler library's start/stop chatter from the saved table)
  "$PY" -m inpaintgan.bench "$@" out="$OUT/$name.json" \
    | sed -u "/^USDT:/d;/gpuGetDeviceCount/d" | tee "$OUT/$name.txt"
}

CPU=(device=cpu threads=2 size=256 batch_size=4)
if [[ $PART == cpu || $PART == cpu-targets ]]; then
  for round in $(seq "$ROUNDS"); do
    # The targets: the shift op at 32/64/128 and Shift-Net's generator step (fp32 and bf16).
    bench "shift.$round" "${CPU[@]}" model=shiftnet 'parts=[shift]' repeats=21
    bench "shiftnet_generator_step_fp32.$round" "${CPU[@]}" model=shiftnet \
      'parts=[forward,generator_step,flops]' repeats=9
    bench "shiftnet_generator_step_bf16.$round" "${CPU[@]}" model=shiftnet precision=bf16 \
      'parts=[forward,generator_step,flops]' repeats=9
  done
  # Before/after of the optimiser change: Adam's default (foreach) vs fused.
  bench shiftnet_generator_step_fp32_foreach_adam "${CPU[@]}" model=shiftnet \
    'parts=[generator_step]' repeats=9 optim.generator.fused=false
fi
if [[ $PART == cpu || $PART == cpu-models ]]; then
  # What users pay for: inference and the full GAN training step of each variant.
  for model in paper shiftnet ce; do
    bench "${model}_fp32" "${CPU[@]}" model=$model 'parts=[forward,train_step,flops,mfu]'
  done
  bench paper_bf16 "${CPU[@]}" model=paper precision=bf16 'parts=[forward,train_step,flops,mfu]'
fi
if [[ $PART == cpu || $PART == cpu-tried ]]; then
  # Tried on this CPU and not adopted (docs/performance.md): channels_last, torch.compile.
  bench shiftnet_generator_step_fp32_channels_last "${CPU[@]}" model=shiftnet \
    'parts=[generator_step]' repeats=9 channels_last=true
  bench shiftnet_generator_step_fp32_compile "${CPU[@]}" model=shiftnet \
    'parts=[generator_step]' repeats=9 compile=true
fi
if [[ $PART == cpu || $PART == cpu-profile ]]; then
  # Where the paper model's training step goes (torch.profiler, CPU times).
  bench paper_profile "${CPU[@]}" model=paper 'parts=[]' profile=true
  bench data device=cpu threads=2 'parts=[data]'
fi

if [[ $PART == gpu ]]; then
  GPU=(device=cuda size=256)
  bench paper_gpu_b32 "${GPU[@]}" model=paper batch_size=32 'parts=[forward,train_step,flops,mfu]'
  bench paper_gpu_b32_compile "${GPU[@]}" model=paper batch_size=32 compile=true \
    'parts=[train_step,flops,mfu]'
  bench paper_gpu_b32_fp32 "${GPU[@]}" model=paper batch_size=32 precision=32 \
    channels_last=false 'parts=[train_step,flops,mfu]'
  bench shiftnet_gpu_b4 "${GPU[@]}" model=shiftnet batch_size=4 \
    'parts=[forward,generator_step,shift,flops]'
  bench paper_gpu_profile "${GPU[@]}" model=paper batch_size=32 'parts=[]' profile=true
fi
