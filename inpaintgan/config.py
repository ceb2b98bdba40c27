"""Locate the Hydra config tree both in a source checkout and in an installed wheel."""

from __future__ import annotations

import secrets
from pathlib import Path

from omegaconf import OmegaConf

from inpaintgan.models.discriminators import discriminator_input_size

_PACKAGE_DIR = Path(__file__).resolve().parent


def _find_config_dir() -> Path:
    """The wheel ships conf/ as ``inpaintgan/conf``; a checkout keeps it beside the package."""
    for candidate in (_PACKAGE_DIR / "conf", _PACKAGE_DIR.parent / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"inpaintgan: config directory not found next to {_PACKAGE_DIR} (expected conf/train.yaml)"
    )


# ``${d_input_size:MODE,SIZE,SCALE}`` sizes the DCGAN discriminator for what it sees.
OmegaConf.register_new_resolver("d_input_size", discriminator_input_size, replace=True)


def run_suffix() -> str:
    """A short token that tells apart runs started in the same second (``${run_suffix:}``).

    Six random hex digits (1 in 16.7 million for two runs of the same second), so runs
    started at the same instant, on one machine or in a job array on a shared file system,
    never share a folder. Hydra caches it per config and copies the cache into every job of
    a multirun; Lightning's DDP ranks get the resolved folder: a run keeps one value.
    """
    return secrets.token_hex(3)


OmegaConf.register_new_resolver("run_suffix", run_suffix, use_cache=True, replace=True)

CONFIG_DIR: str = str(_find_config_dir())
if __name__ == "__main__":
    print(CONFIG_DIR)
