"""Read and write generator checkpoints without trusting the file (weights_only loading)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from inpaintgan.errors import CheckpointError
from inpaintgan.io import atomic_torch_save

CHECKPOINT_KEY = "inpaintgan"
FORMAT_VERSION = 1


def checkpoint_metadata(config: DictConfig | dict) -> dict[str, Any]:
    """The block stored under ``checkpoint["inpaintgan"]``: format and resolved config."""
    if isinstance(config, DictConfig):
        config = OmegaConf.to_container(config, resolve=True)
    return {"format": FORMAT_VERSION, "config": config}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``) or raise a one-line CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({first})") from err
    except Exception as err:  # unpickling errors of untrusted content
        raise CheckpointError(
            f"{path}: refused to load (not a plain weights file: {type(err).__name__})"
        ) from err
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        raise CheckpointError(f"{path}: not an inpaintgan checkpoint (no '{CHECKPOINT_KEY}' block)")
    return checkpoint


def generator_state_dict(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The generator's weights from a training checkpoint or an exported file."""
    if "generator" in checkpoint:
        return checkpoint["generator"]
    prefix = "generator."
    return {
        key[len(prefix) :]: value
        for key, value in checkpoint.get("state_dict", {}).items()
        if key.startswith(prefix)
    }


def load_generator(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, DictConfig]:
    """Rebuild the generator stored in ``path`` (training .ckpt or exported .pt), in eval mode.

    Returns the generator and the run's resolved config (``config.model``, ``config.data``...).
    """
    checkpoint = read_checkpoint(path)
    config = OmegaConf.create(checkpoint[CHECKPOINT_KEY]["config"])
    try:
        generator = instantiate(config.model.generator)
    except Exception as err:
        raise CheckpointError(f"{path}: cannot rebuild its generator ({err})") from err
    state = generator_state_dict(checkpoint)
    if not state:
        raise CheckpointError(f"{path}: holds no generator weights")
    try:
        generator.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path}: generator weights do not fit its config ({first})") from err
    return generator.to(map_location).eval(), config


def refuse_same_file(checkpoint_path: str | Path, out_path: str | Path) -> None:
    """A CheckpointError when ``out_path`` is the checkpoint itself (an export would replace
    the training checkpoint)."""
    out_path = Path(out_path)
    if out_path.resolve() == Path(checkpoint_path).resolve() or (
        out_path.exists()
        and Path(checkpoint_path).exists()
        and os.path.samefile(out_path, checkpoint_path)
    ):
        raise CheckpointError(
            f"out={out_path} is the checkpoint itself: exporting would replace it with the "
            "exported file; give another out"
        )


def export_generator(checkpoint_path: str | Path, out_path: str | Path) -> Path:
    """Write only the generator weights and the run config: a small file to share."""
    out_path = Path(out_path)
    refuse_same_file(checkpoint_path, out_path)
    checkpoint = read_checkpoint(checkpoint_path)
    state = generator_state_dict(checkpoint)
    if not state:
        raise CheckpointError(f"{checkpoint_path}: holds no generator weights")
    atomic_torch_save({CHECKPOINT_KEY: checkpoint[CHECKPOINT_KEY], "generator": state}, out_path)
    return out_path
