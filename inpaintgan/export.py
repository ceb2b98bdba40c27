"""`python -m inpaintgan.export ckpt=PATH out=FILE`: a small, shareable generator file."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from inpaintgan.checkpoints import export_generator
from inpaintgan.config import CONFIG_DIR
from inpaintgan.errors import run_command


@hydra.main(config_path=CONFIG_DIR, config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Write the generator weights + config of a training checkpoint to ``out``."""
    out = run_command("export", export_generator, cfg.ckpt, cfg.out)
    size_mb = out.stat().st_size / 2**20
    print(f"wrote {out} ({size_mb:.1f} MB): load it with inpaintgan.checkpoints.load_generator")


if __name__ == "__main__":
    main()
