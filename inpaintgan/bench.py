"""`python -m inpaintgan.bench [overrides]`: speed, memory and FLOPs of one configured variant.

Measures, for the variant built from ``conf/bench.yaml`` (``model=paper|shiftnet|ce``) at a
chosen image size, batch size, device and precision:

* ``forward``: generator inference (eval mode, ``inference_mode``), ms per image;
* ``train_step``: one full GAN step, the module's own
  :meth:`~inpaintgan.module.InpaintingModule.gan_step` (what ``training_step`` runs: D step
  on real vs the detached composite, then the G step with every loss term of the variant,
  VGG16 style loss included, gradient norms and Adam), ms per image and images/s;
* ``generator_step``: Shift-Net's reference step: the ground-truth pass for the guidance
  target, the masked forward, L1 + guidance backward, then Adam (reported apart);
* ``shift``: :func:`inpaintgan.models.shift.shift_known_to_hole` alone;
* ``data``: loader throughput (the ``loader`` section) through
  :func:`inpaintgan.data.bench.benchmark_loader`;
* ``flops``: FLOPs per image (``torch.utils.flop_counter``) of the forward and the steps;
* ``mfu``: the model FLOP utilisation of each timed row against two peaks of the run's own
  math mode (bf16, fp16, tf32 or fp32; :mod:`inpaintgan.perf.peaks`): the spec-sheet dense
  peak of the detected GPU (``mfu_spec``; none, with the reason, for the CPU or a GPU not in
  the table) and a measured rate (``mfu_measured``: on CUDA a large GEMM in that mode; on
  the CPU the faster of a large matmul and a large 3×3 convolution).

Every timing is ``warmup`` untimed runs then the median of ``repeats`` runs. Results: a
table on stdout and JSON in ``out`` (an existing file is replaced only with
``overwrite=true``). The measuring is the library :mod:`inpaintgan.perf`;
see docs/performance.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from inpaintgan.config import CONFIG_DIR
from inpaintgan.errors import run_command
from inpaintgan.io import check_outputs, write_atomically
from inpaintgan.perf import format_table, run_bench


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def bench_and_write(cfg: DictConfig) -> dict:
    """Refuse an ``out`` this run did not create (unless ``overwrite``) before measuring,
    measure, print the table and write the JSON atomically."""
    if cfg.get("out"):
        check_outputs([("the bench results", cfg.out)], overwrite=bool(cfg.get("overwrite")))
    result = run_bench(cfg, echo=_progress)
    result["command"] = " ".join(["python -m inpaintgan.bench", *HydraConfig.get().overrides.task])
    print(format_table(result))
    if cfg.get("out"):
        path = Path(cfg.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda tmp: tmp.write_text(json.dumps(result, indent=2) + "\n"))
        print(f"wrote {path}")
    return result


@hydra.main(config_path=CONFIG_DIR, config_name="bench", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Console entry point (`python -m inpaintgan.bench`)."""
    run_command("bench", bench_and_write, cfg, also=(ValueError,))


if __name__ == "__main__":
    main()
