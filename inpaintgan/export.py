"""`python -m inpaintgan.export ckpt=PATH format=weights|onnx|torchscript out=FILE`.

``weights`` (the default): the generator weights + run config, a small file this package
loads. ``onnx`` / ``torchscript``: a self-contained model, ``(image, mask) -> composite``
with a dynamic batch and image size, checked against the generator before it is written
(:mod:`inpaintgan.exporting`, docs/export.md).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from inpaintgan.config import CONFIG_DIR, one_of, whole_number
from inpaintgan.errors import run_command
from inpaintgan.exporting import EXPORT_FORMATS, ExportResult, export_model


def export(cfg: DictConfig) -> ExportResult:
    """Check the options (one line each), then export (:func:`export_model`)."""
    fmt = one_of(str(cfg.get("format", "weights")), "format", EXPORT_FORMATS)
    return export_model(
        cfg.ckpt,
        cfg.get("out"),
        fmt,
        opset=int(whole_number(cfg.get("opset", 18), "opset", minimum=7)),
        verify=bool(one_of(cfg.get("verify", True), "verify", (True, False))),
        overwrite=bool(one_of(cfg.get("overwrite", False), "overwrite", (True, False))),
    )


@hydra.main(config_path=CONFIG_DIR, config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Export the checkpoint's generator in ``cfg.format`` to ``cfg.out``."""
    result = run_command("export", export, cfg, writes_to=".")
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
