"""Locate the Hydra config tree both in a source checkout and in an installed wheel."""

from __future__ import annotations

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

CONFIG_DIR: str = str(_find_config_dir())
if __name__ == "__main__":
    print(CONFIG_DIR)
