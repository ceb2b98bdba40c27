"""Test helpers: compose the training config with tiny overrides, run the CLIs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from inpaintgan.config import CONFIG_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]

# A model and data small enough for a CPU step in well under a second.
TINY = [
    "data.size=64",
    "data.batch_size=2",
    "data.num_workers=0",
    "model.generator.base_channels=8",
    "logger=csv",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=false",
    "callbacks.image_grid.every_n_batches=1",
]


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """The training config as `python -m inpaintgan.train` would compose it."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


def run_cli(
    module: str, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run `python -m MODULE ARGS` in a subprocess and capture its output."""
    full_env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or REPO_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
