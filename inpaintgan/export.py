"""`python -m inpaintgan.export ckpt=PATH format=weights|onnx|torchscript out=FILE`.

``weights`` (the default): the generator weights + run config, a small file this package
loads. ``onnx`` / ``torchscript``: a self-contained model, ``(image, mask) -> composite``
with a dynamic batch and image size, checked against the generator before it is written
(:mod:`inpaintgan.exporting`, docs/export.md).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from inpaintgan.config import CONFIG_DIR
from inpaintgan.errors import run_command
from inpaintgan.exporting import export_model


@hydra.main(config_path=CONFIG_DIR, config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Export the checkpoint's generator in ``cfg.format`` to ``cfg.out``."""
    result = run_command(
        "export",
        export_model,
        cfg.ckpt,
        cfg.get("out"),
        str(cfg.get("format", "weights")),
        opset=int(cfg.get("opset", 18)),
        verify=bool(cfg.get("verify", True)),
        writes_to=".",
    )
    size_mb = result.path.stat().st_size / 2**20
    checked = (
        f"; max abs difference to the generator on unseen masks/sizes: {result.max_abs_diff:.2g}"
        if result.max_abs_diff is not None
        else ""
    )
    print(
        f"wrote {result.path} ({size_mb:.1f} MB, {result.format}{checked}): use it as ckpt= "
        "of predict / evaluate, or inpaintgan.load_inpainter"
    )


if __name__ == "__main__":
    main()
