"""`python -m inpaintgan.export ckpt=PATH out=FILE`: a small, shareable generator file."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from inpaintgan.checkpoints import CheckpointError, export_generator
from inpaintgan.config import CONFIG_DIR
from inpaintgan.io import WriteError


@hydra.main(config_path=CONFIG_DIR, config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Write the generator weights + config of a training checkpoint to ``out``."""
    try:
        out = export_generator(cfg.ckpt, cfg.out)
    except (CheckpointError, WriteError) as err:
        print(f"inpaintgan.export: error: {err}", file=sys.stderr)
        sys.exit(2)
    size_mb = out.stat().st_size / 2**20
    print(f"wrote {out} ({size_mb:.1f} MB): load it with inpaintgan.checkpoints.load_generator")


if __name__ == "__main__":
    main()
