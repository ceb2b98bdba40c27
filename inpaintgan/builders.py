"""Build the training module from the Hydra config, and describe the source tree.

Library code shared by the commands (``train``, ``bench``): no command imports another.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from inpaintgan.errors import UserError
from inpaintgan.module import InpaintingModule

__all__ = ["build_module", "git_commit"]


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
    """Instantiate the variant's generator, discriminator and loss, and wrap them."""
    if cfg.model.get("generator") is None:
        raise UserError(
            f"model={cfg.model.get('name')} has no trainable generator "
            "(classical baselines are for evaluate/predict only)"
        )
    generator = instantiate(cfg.model.generator)
    disc_cfg = cfg.model.get("discriminator")
    discriminator = instantiate(disc_cfg) if disc_cfg is not None else None
    d_input_cfg = cfg.model.get("discriminator_input")
    discriminator_input = instantiate(d_input_cfg) if d_input_cfg is not None else None
    loss = instantiate(cfg.loss)
    try:
        return InpaintingModule(
            generator=generator,
            discriminator=discriminator,
            loss=loss,
            optimizer_g=instantiate(cfg.optim.generator),
            optimizer_d=instantiate(cfg.optim.discriminator) if discriminator is not None else None,
            scheduler=instantiate(cfg.optim.scheduler) if cfg.optim.get("scheduler") else None,
            grad_clip=cfg.optim.get("grad_clip"),
            max_bad_steps=cfg.get("max_bad_steps", 10),
            config=run_config,
            channels_last=cfg.get("channels_last", "auto"),
            compile=bool(cfg.get("compile", False)),
            discriminator_input=discriminator_input,
        )
    except ValueError as err:  # a config value the module refuses
        raise UserError(str(err)) from err
