"""Build the training module from the Hydra config, and describe the source tree.

Library code shared by the commands (``train``, ``bench``): no command imports another.
"""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from inpaintgan.config import whole_number
from inpaintgan.errors import UserError
from inpaintgan.module import InpaintingModule
from inpaintgan.speed import channels_last_for

__all__ = ["bad_batch_limit", "build_module", "git_commit"]

log = logging.getLogger(__name__)

DEFAULT_MAX_BAD_BATCHES = 10


def bad_batch_limit(cfg: DictConfig, warn: bool = True) -> int:
    """``max_bad_batches``: how many bad batches (non-finite loss or gradient) in a row stop
    the run, checked (a UsageError line naming the key otherwise). The old name
    ``max_bad_steps`` (it always counted batches) still works when set, with a one-line
    deprecation warning when ``warn``."""
    old = cfg.get("max_bad_steps")
    if old is not None:
        if warn:
            log.warning("max_bad_steps is deprecated: use max_bad_batches=%s", old)
        return int(whole_number(old, "max_bad_steps"))
    value = cfg.get("max_bad_batches", DEFAULT_MAX_BAD_BATCHES)
    return int(whole_number(value, "max_bad_batches"))


def git_commit() -> str | None:
    """The commit of the source tree (stored with the run), if it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def build_module(cfg: DictConfig, run_config: dict[str, Any]) -> InpaintingModule:
    """The LightningModule the model config names: ``instantiate(cfg.model)`` (its
    ``_target_``, its networks), given the loss, the ``_partial_`` optimisers and schedule of
    ``cfg.optim``, and the run's speed settings."""
    if cfg.model.get("generator") is None:
        raise UserError(
            f"model={cfg.model.get('name')} has no trainable generator "
            "(classical baselines are for evaluate/predict only)"
        )
    if cfg.model.get("_target_") is None:
        raise UserError(
            f"model={cfg.model.get('name')} names no LightningModule "
            "(model._target_: inpaintgan.module.InpaintingModule)"
        )
    channels_last = cfg.get("channels_last", "auto")
    try:
        channels_last_for(channels_last, torch.device("cpu"))  # a value the module refuses
    except ValueError as err:
        raise UserError(str(err)) from err
    has_discriminator = cfg.model.get("discriminator") is not None
    # the networks built now; the module called with what the model config does not hold
    try:
        make_module = instantiate(cfg.model, _partial_=True)
    except InstantiationException as err:  # a value a network refuses: one line, its key
        cause = err.__cause__
        if not isinstance(cause, ValueError | TypeError):
            raise
        key = re.search(r"full_key: (\S+)", str(err))
        raise UserError(f"{key.group(1) if key else 'model'}: {cause}") from err
    module = make_module(
        loss=instantiate(cfg.loss),
        optimizer_g=instantiate(cfg.optim.generator),
        optimizer_d=instantiate(cfg.optim.discriminator) if has_discriminator else None,
        scheduler=instantiate(cfg.optim.scheduler) if cfg.optim.get("scheduler") else None,
        grad_clip=cfg.optim.get("grad_clip"),
        max_bad_batches=bad_batch_limit(cfg),
        config=run_config,
        channels_last=channels_last,
        compile=bool(cfg.get("compile", False)),
    )
    if not isinstance(module, InpaintingModule):
        raise UserError(f"model._target_ builds {type(module).__name__}, not an InpaintingModule")
    return module
