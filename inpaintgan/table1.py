"""Table-1 runs: the evaluation command a training run ends with, and the time estimates.

A Table-1 experiment validates on a fixed subset while it trains (``data.val_subset``); its
Table-1 score is the whole test split scored by ``python -m inpaintgan.evaluate``.
:func:`evaluation_command` writes that command for a finished run (same data set, root,
layout options, crop size and evaluation hole), and :func:`log_evaluation_command` logs it
after ``trainer.fit``. :func:`estimated_hours` is the arithmetic behind the README's
"Table-1 runs on GPUs" table: FLOPs per training image (measured, docs/performance.md) over
an *assumed* sustained rate; an estimate, not a measurement.
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

log = logging.getLogger(__name__)

# The data config group of each source class (conf/data/<group>.yaml).
DATA_GROUPS = {
    "Places2Source": "places2",
    "CelebASource": "celeba",
    "FolderSource": "folder",
    "SampleSource": "sample",
}
# data.* keys that decide which images are scored and how they are cropped.
DATA_KEYS = ("root", "variant", "resolution", "size")

# Training images per epoch (official lists).
TRAIN_IMAGES = {
    "places2": 1_803_460,  # places365_train_standard.txt
    "places2_challenge": 8_026_628,  # places365_train_challenge.txt
    "celeba": 162_770,  # list_eval_partition.txt, partition 0
}
# GFLOP of one training step per 256x256 image (G forward, D step, G step with every loss
# term), counted by torch.utils.flop_counter: docs/performance.md, "What each variant costs".
STEP_GFLOP = {"paper": 206.5, "shiftnet": 92.0, "ce": 56.0}
H100_BF16_TFLOPS = 989.0  # H100 SXM dense bf16 peak (NVIDIA datasheet)


def evaluation_command(
    cfg: DictConfig, ckpt_path: str | Path, out: str | Path | None = None, batch_size: int = 64
) -> str:
    """The ``python -m inpaintgan.evaluate ...`` line that scores ``ckpt_path`` as Table 1
    does: the whole test split of the run's data set (no ``val_subset``), composited output,
    the run's center evaluation hole, PSNR/SSIM (+ LPIPS/FID when available).

    ``cfg`` is the training config; ``out`` defaults to ``<run dir>/evaluate_test``.
    """
    data = cfg.data
    target = str(data.source.get("_target_", "")).rsplit(".", 1)[-1]
    group = DATA_GROUPS.get(target)
    if group is None:
        raise ValueError(f"no data config group for source {target!r}")
    args = [f"ckpt={ckpt_path}", f"data={group}"]
    for key in DATA_KEYS:
        value = data.get(key)
        if value is not None:
            args.append(f"data.{key}={value}")
    args += ["split=test", *_mask_args(cfg.get("eval_mask")), f"seed={cfg.seed}"]
    args.append(f"batch_size={batch_size}")
    model = cfg.get("model")
    if model is not None and model.get("name"):
        args.append(f"name={model.name}")
    if out is None:
        out = Path(str(cfg.paths.output_dir)) / "evaluate_test"
    args.append(f"out={out}")
    return "python -m inpaintgan.evaluate " + " ".join(shlex.quote(a) for a in args)


def _mask_args(eval_mask: Any) -> list[str]:
    """``mask=center`` plus its fraction/overlap when they differ from conf/mask/center.yaml.

    Table 1 scores the center hole; a run validated on another distribution is still scored
    on it.
    """
    args = ["mask=center"]
    if eval_mask is not None and str(eval_mask.get("_target_", "")).endswith("CenterMask"):
        if float(eval_mask.get("fraction", 0.5)) != 0.5:
            args.append(f"mask.fraction={eval_mask.fraction}")
        if int(eval_mask.get("overlap", 0)) != 0:
            args.append(f"mask.overlap={eval_mask.overlap}")
    return args


def log_evaluation_command(cfg: DictConfig, trainer: Any) -> str | None:
    """Log (and return) the evaluation command for the run's best checkpoint, else its
    ``last.ckpt``; None (nothing logged) on non-zero ranks or when neither exists."""
    if not getattr(trainer, "is_global_zero", True):
        return None
    callback = getattr(trainer, "checkpoint_callback", None)
    best = getattr(callback, "best_model_path", "") if callback is not None else ""
    last = Path(str(cfg.paths.output_dir)) / "checkpoints" / "last.ckpt"
    ckpt = best or (str(last) if last.is_file() else "")
    if not ckpt:
        return None
    command = evaluation_command(cfg, ckpt)
    log.info("Table-1 score of this run (whole test split): %s", command)
    return command


def estimated_hours(
    model: str,
    dataset: str,
    gpus: int = 1,
    epochs: int = 30,
    peak_tflops: float = H100_BF16_TFLOPS,
    mfu: float = 0.2,
    multi_gpu_efficiency: float = 0.9,
) -> float:
    """Training time in hours of ``epochs`` over ``dataset`` (a :data:`TRAIN_IMAGES` key):
    images × :data:`STEP_GFLOP` ÷ (``gpus`` × ``peak_tflops`` × ``mfu``), with
    ``multi_gpu_efficiency`` applied when ``gpus > 1``. Validation and start-up excluded.
    An estimate from assumptions (MFU, scaling), not a measurement."""
    rate = gpus * peak_tflops * 1e12 * mfu * (multi_gpu_efficiency if gpus > 1 else 1.0)
    flops = TRAIN_IMAGES[dataset] * epochs * STEP_GFLOP[model] * 1e9
    return flops / rate / 3600
