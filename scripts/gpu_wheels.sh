#!/usr/bin/env bash
# Fill wheels/ (or $1) with hydra-core, omegaconf and wandb, at the versions of this
# checkout's environment, and everything they need, built for the GPU machine's Python
# (CPython 3.12, manylinux x86_64; override with GPU_PYTHON_VERSION). That machine has torch,
# torchvision, lightning and torchmetrics but no package index: scripts/gpu_check.sh installs
# from this folder there (`pip install --no-index --find-links wheels ...`, which takes from
# it only what the machine lacks). wheels/ is git-ignored; carry it along (device tool:
# carry=["wheels"]; elsewhere: copy it next to the checkout).
#
#   scripts/gpu_wheels.sh            # ~30 MB, a minute
#   scripts/gpu_wheels.sh /tmp/w     # another folder
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DEST=${1:-wheels}
PY=${PY:-.venv/bin/python}
[[ -x $PY ]] || PY=python3
PYVER=${GPU_PYTHON_VERSION:-3.12}
mkdir -p "$DEST"

# The versions this checkout runs and tests with.
mapfile -t PINS < <("$PY" - <<'EOF'
import importlib.metadata as md

for name in ("hydra-core", "omegaconf", "wandb", "antlr4-python3-runtime"):
    print(f"{name}=={md.version(name)}")
EOF
)
echo "pins: ${PINS[*]}"

# omegaconf's parser runtime (antlr4-python3-runtime 4.9.x) is published as a source archive
# only; it is pure Python, so its wheel built here runs there.
"$PY" -m pip wheel --quiet --no-deps -w "$DEST" "${PINS[3]}"

PLATFORMS=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  PLATFORMS+=(--platform "${tag}_x86_64")
done
"$PY" -m pip download --quiet --only-binary=:all: --implementation cp \
  --python-version "$PYVER" "${PLATFORMS[@]}" --find-links "$DEST" -d "$DEST" \
  "${PINS[0]}" "${PINS[1]}" "${PINS[2]}"

ls "$DEST"
du -sh "$DEST"
