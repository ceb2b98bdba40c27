"""Plain helpers the test files share (fixtures live in conftest.py).

One place for what several test files need: composing a command's config, running a CLI in a
subprocess, a tiny exported checkpoint, a tiny batch, noise photos and mask files. Test files
import from here (or use conftest's fixtures), never from each other.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict
from PIL import Image

from inpaintgan.config import CONFIG_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]


def _override_value(value: object) -> str:
    """A YAML scalar as Hydra's command line writes it (false, null, 2, cpu)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)


def _overrides_of(config_file: Path) -> list[str]:
    """The ``key=value`` overrides a ``# @package _global_`` config file stands for: its values
    as dotted keys in file order, then its ``override /GROUP: OPTION`` entries as GROUP=OPTION."""
    cfg = OmegaConf.to_container(OmegaConf.load(config_file))
    groups = [
        f"{key.split('/', 1)[1]}={option}"
        for entry in cfg.pop("defaults", [])
        for key, option in entry.items()
    ]

    def flat(node: dict, prefix: str) -> list[str]:
        return [
            item
            for key, value in node.items()
            for item in (
                flat(value, f"{prefix}{key}.")
                if isinstance(value, dict)
                else [f"{prefix}{key}={_override_value(value)}"]
            )
        ]

    return flat(cfg, "") + groups


# A model and data small enough for a CPU step in well under a second: `debug=tiny`
# (conf/debug/tiny.yaml) as key=value overrides, so tests add to it and take parts of it.
TINY = _overrides_of(Path(CONFIG_DIR) / "debug" / "tiny.yaml")


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


def compose_config(name: str, overrides: list[str] | None = None, hydra: bool = False) -> Any:
    """The config `python -m inpaintgan.NAME OVERRIDES` composes (with `hydra:` if asked)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=overrides or [], return_hydra_config=hydra)


# The evaluate command's quick settings: CPU, no loader workers, no progress display.
QUICK_EVALUATE = ["data.num_workers=0", "device=cpu", "progress=false"]


def compose_evaluate(overrides: list[str]) -> Any:
    """The evaluate config with QUICK_EVALUATE first, `hydra:` included (for its choices)."""
    return compose_config("evaluate", [*QUICK_EVALUATE, *overrides], hydra=True)


def compose_predict(overrides: list[str]) -> Any:
    """The predict config on the CPU."""
    return compose_config("predict", ["device=cpu", *overrides])


# A U-Net small enough to build and run in milliseconds (multiples of 2**4 = 16).
TINY_GENERATOR = {
    "_target_": "inpaintgan.models.unet.UNetGenerator",
    "depth": 4,
    "base_channels": 4,
    "max_channels": 16,
    "shift_level": 2,
}


def make_tiny_checkpoint(path: Path) -> Path:
    """An exported-generator file in the documented format, with random weights (seed 0)."""
    from hydra.utils import instantiate

    from inpaintgan.checkpoints import checkpoint_metadata

    torch.manual_seed(0)
    generator = instantiate(OmegaConf.create(TINY_GENERATOR))
    config = {"model": {"name": "paper", "generator": TINY_GENERATOR}, "data": {"size": 128}}
    torch.save(
        {"inpaintgan": checkpoint_metadata(config), "generator": generator.state_dict()}, path
    )
    return path


def center_mask(batch: int, size: int) -> torch.Tensor:
    """``[batch, 1, size, size]`` float masks, 1 in the centred half-size square."""
    mask = torch.zeros(batch, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return mask


def tiny_batch(size: int = 64) -> dict:
    """A float training batch of two random images with a centred square hole."""
    image = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    return {"image": image, "mask": center_mask(2, size), "name": ["a", "b"]}


def noise_photo(path: Path, size: int | tuple[int, int] = 40, seed: int = 0) -> Path:
    """A uniform-noise RGB photo (``size`` = side or (width, height)); JPEG or PNG by suffix."""
    width, height = (size, size) if isinstance(size, int) else size
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    Image.fromarray(noise).save(path)
    return path


def box_mask(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A uint8 mask, 255 inside ``box`` = (top, left, bottom, right), 0 elsewhere."""
    mask = np.zeros((height, width), np.uint8)
    top, left, bottom, right = box
    mask[top:bottom, left:right] = 255
    return mask


def random_alexnet_file(path: Path) -> Path:
    """A torchvision AlexNet weights file with RANDOM weights: checks plumbing, not values."""
    import torchvision

    torch.manual_seed(0)
    features = torchvision.models.alexnet(weights=None).features.state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({f"features.{k}": v for k, v in features.items()}, path)
    return path


def random_inception_file(path: Path) -> Path:
    """A torch-fidelity Inception v3 weights file with RANDOM weights (plumbing only)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path.parent.mkdir(parents=True, exist_ok=True)
    empty = path.with_name(path.name + ".empty")
    torch.save({}, empty)
    original = FeatureExtractorInceptionV3.load_state_dict
    FeatureExtractorInceptionV3.load_state_dict = lambda self, *args, **kwargs: None
    try:
        torch.manual_seed(0)
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], str(empty))
    finally:
        FeatureExtractorInceptionV3.load_state_dict = original
    torch.save(net.state_dict(), path)
    empty.unlink()
    return path
