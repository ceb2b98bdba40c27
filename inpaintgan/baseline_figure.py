"""The last picture of a training run: the trained model beside the classical fills.

At the end of training, :class:`BaselineFigure` inpaints the whole validation split (with its
fixed evaluation holes) with the final generator and with the classical fills (Telea, the
flat mean fill), scores every composite with the PSNR of validation, and writes

* ``samples/final_vs_baselines.png``: masked | ours | Telea | mean fill | truth for the first
  validation photos, each column labelled with its val PSNR;
* ``samples/final_vs_baselines.json``: the val PSNR / SSIM of each method and the photo count;

and prints one line with the numbers. A newcomer sees at once whether the run beat the floor.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image
from torch import Tensor
from torchvision.utils import make_grid

from inpaintgan.callbacks import GRID_PADDING, add_column_labels, masked_input_view
from inpaintgan.classical import ClassicalInpainter
from inpaintgan.data.datamodule import to_float_batch
from inpaintgan.io import atomic_file
from inpaintgan.metrics import psnr_per_image, ssim_per_image
from inpaintgan.models.base import composite
from inpaintgan.pixels import to_uint8_image

__all__ = ["BaselineFigure", "compare_with_baselines"]

log = logging.getLogger(__name__)

#: The classical fills and the settings ``evaluate model=...`` uses for them.
BASELINES = {
    "telea": {"method": "telea", "radius": 3},
    "mean_fill": {"method": "mean_fill", "radius": 8},
}
LABELS = {"telea": "Telea", "mean_fill": "mean fill"}


@torch.no_grad()
def compare_with_baselines(
    generator: torch.nn.Module,
    batches: Any,
    methods: Sequence[str] = ("telea", "mean_fill"),
    num_images: int = 6,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, dict[str, float]], dict[str, Tensor]]:
    """Composites of ``generator`` ("ours") and of each classical ``method`` on every batch.

    Returns per method ``{"psnr", "ssim"}`` (means over images) with ``"n_images"``, and the
    first ``num_images`` images: ``image``, ``mask`` and one composite per method.
    """
    fills = {name: ClassicalInpainter(**BASELINES[name]) for name in methods}
    scores: dict[str, dict[str, list[Tensor]]] = {}
    shown: dict[str, list[Tensor]] = {}
    was_training = generator.training
    generator.eval()
    try:
        for batch in batches:
            batch = to_float_batch(batch, device)
            image, mask = batch["image"].float(), batch["mask"].float()
            results = {"ours": composite(generator(image, mask).image.float(), image, mask)}
            for name, fill in fills.items():
                results[name] = composite(fill(image, mask).image.float(), image, mask)
            for name, comp in results.items():
                entry = scores.setdefault(name, {"psnr": [], "ssim": []})
                entry["psnr"].append(psnr_per_image(comp, image).cpu())
                entry["ssim"].append(ssim_per_image(comp, image).cpu())
            if sum(len(t) for t in shown.get("image", [])) < num_images:
                for key, value in {"image": image, "mask": mask, **results}.items():
                    shown.setdefault(key, []).append(value.cpu())
    finally:
        generator.train(was_training)
    if not scores:
        raise ValueError("no validation images to compare with the baselines")
    summary = {
        name: {
            "psnr": float(torch.cat(values["psnr"]).mean()),
            "ssim": float(torch.cat(values["ssim"]).mean()),
            "n_images": int(torch.cat(values["psnr"]).numel()),
        }
        for name, values in scores.items()
    }
    first = {key: torch.cat(values)[:num_images] for key, values in shown.items()}
    return summary, first


def baseline_grid(images: dict[str, Tensor], summary: dict[str, dict[str, float]]) -> np.ndarray:
    """masked | ours | each baseline | truth, one row per image, labelled with val PSNR."""
    methods = ["ours", *(m for m in summary if m != "ours")]
    columns = [masked_input_view(images["image"], images["mask"])]
    columns += [images[m] for m in methods] + [images["image"]]
    tiles = torch.stack(columns, dim=1).flatten(0, 1).clamp(0, 1)
    grid = make_grid(tiles, nrow=len(columns), padding=GRID_PADDING, pad_value=1.0)
    labels = ["masked"]
    labels += [f"{LABELS.get(m, m)} {summary[m]['psnr']:.2f} dB" for m in methods]
    labels.append("truth")
    return add_column_labels(to_uint8_image(grid), tuple(labels))


class BaselineFigure(pl.Callback):
    """At the end of ``fit``: the final generator beside Telea and the mean fill on the val
    photos (module docstring). ``enabled=false`` turns it off; only rank 0 writes."""

    def __init__(
        self,
        dirpath: str | Path,
        methods: Sequence[str] = ("telea", "mean_fill"),
        num_images: int = 6,
        enabled: bool = True,
    ) -> None:
        unknown = [m for m in methods if m not in BASELINES]
        if unknown:
            raise ValueError(f"baseline_figure.methods: unknown {unknown}; use {sorted(BASELINES)}")
        self.dirpath = Path(dirpath)
        self.methods = tuple(methods)
        self.num_images = int(num_images)
        self.enabled = bool(enabled)
        self.summary: dict[str, dict[str, float]] | None = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled or not trainer.is_global_zero or trainer.datamodule is None:
            return
        if trainer.interrupted:
            return
        loader = trainer.datamodule.val_dataloader()
        summary, images = compare_with_baselines(
            pl_module.generator, loader, self.methods, self.num_images, pl_module.device
        )
        self.summary = summary
        self.dirpath.mkdir(parents=True, exist_ok=True)
        figure = self.dirpath / "final_vs_baselines.png"
        with atomic_file(figure) as handle:
            Image.fromarray(baseline_grid(images, summary)).save(handle, format="PNG")
        with atomic_file(self.dirpath / "final_vs_baselines.json") as handle:
            handle.write((json.dumps(summary, indent=2) + "\n").encode())
        parts = [f"{LABELS.get(m, m)} {s['psnr']:.2f} dB" for m, s in summary.items()]
        line = (
            f"final val PSNR on {summary['ours']['n_images']} photos: "
            f"{' · '.join(parts)} → {figure}"
        )
        log.info(line)  # the run's console and train.log
