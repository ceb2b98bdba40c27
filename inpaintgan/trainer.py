"""The Lightning Trainer of a training run, its loggers, and the float32 matmul precision.

:func:`build_trainer` builds ``trainer`` from the config with the run's callbacks, the
batch limit of :class:`~inpaintgan.callbacks.TrainingPosition` (``max_batches`` counts
batches, not optimiser steps) and atomic checkpoint writes; :func:`build_loggers` builds
every configured logger (a resumed run continues its W&B run);
:func:`matmul_precision_for` resolves ``matmul_precision=auto``.
"""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from inpaintgan.callbacks import TrainingPosition
from inpaintgan.errors import UserError
from inpaintgan.io import AtomicCheckpointIO

__all__ = [
    "MATMUL_PRECISIONS",
    "build_loggers",
    "build_trainer",
    "matmul_precision_for",
    "max_batches_of",
]


def build_loggers(cfg: DictConfig, resume_wandb_id: str | None) -> list[Any]:
    """All configured loggers; a resumed run continues its W&B run id."""
    loggers = []
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        if logger_cfg is None:
            continue
        kwargs = {"run_id": resume_wandb_id} if name == "wandb" and resume_wandb_id else {}
        loggers.append(instantiate(logger_cfg, **kwargs))
    return loggers


def max_batches_of(cfg: DictConfig, steps_per_batch: int) -> int | None:
    """The run's length in batches: ``max_batches``, or a ``trainer.max_steps`` given in
    optimiser steps (``steps_per_batch`` per batch), whichever is smaller; None if neither."""
    limits = []
    if cfg.get("max_batches"):
        limits.append(int(cfg.max_batches))
    max_steps = cfg.trainer.get("max_steps")
    if max_steps is not None and int(max_steps) > 0:
        limits.append(math.ceil(int(max_steps) / steps_per_batch))
    return min(limits) if limits else None


def build_trainer(cfg: DictConfig, loggers: list[Any], steps_per_batch: int) -> pl.Trainer:
    """The Trainer from config; `max_batches` counts batches, not optimiser steps.

    The batch limit is :class:`TrainingPosition`'s (``trainer.should_stop``), not Lightning's
    ``max_steps``: with ``max_steps`` set, Lightning treats every resume as a restart inside
    an epoch, and a checkpoint saved between epochs resumed one batch and one epoch late.
    """
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    callbacks = [c for c in callbacks if not isinstance(c, TrainingPosition)]
    callbacks.append(TrainingPosition(max_batches_of(cfg, steps_per_batch)))
    overrides: dict[str, Any] = {"max_steps": -1}
    return instantiate(
        cfg.trainer,
        logger=loggers or False,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
        **overrides,
    )


MATMUL_PRECISIONS = ("highest", "high", "medium")


def matmul_precision_for(setting: str | None, accelerator: str | None) -> str | None:
    """The ``torch.set_float32_matmul_precision`` value for the config's ``matmul_precision``:
    ``auto`` is ``high`` when the trainer runs on a GPU (``accelerator`` gpu / cuda, or auto
    with CUDA present: TF32 for the float32 Gram matrices) and None (torch's default)
    elsewhere; null is None; highest | high | medium as given."""
    if setting is None:
        return None
    if setting == "auto":
        on_gpu = accelerator in ("gpu", "cuda") or (
            accelerator in (None, "auto") and torch.cuda.is_available()
        )
        return "high" if on_gpu else None
    if setting not in MATMUL_PRECISIONS:
        raise UserError(f"matmul_precision={setting}: must be auto, null, highest, high or medium")
    return str(setting)
