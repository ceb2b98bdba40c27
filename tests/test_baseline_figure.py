"""The last picture of `make train`: ours beside Telea and the mean fill, with val PSNR."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintgan.baseline_figure import BaselineFigure, baseline_grid, compare_with_baselines
from inpaintgan.classical import mean_fill
from inpaintgan.data.datasets import sample_root
from inpaintgan.models.base import GeneratorOutput


def _batches(count: int = 5, size: int = 64) -> list[dict[str, torch.Tensor]]:
    files = sorted(sample_root().rglob("*.jpg"))[:count]
    arrays = [np.asarray(Image.open(f).convert("RGB").resize((size, size))) for f in files]
    image = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    mask = torch.zeros(count, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    return [{"image": image[:3], "mask": mask[:3]}, {"image": image[3:], "mask": mask[3:]}]


class _Copy(torch.nn.Module):
    """A 'generator' whose output is given: the truth, or the mean fill."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, image, mask):
        out = image if self.kind == "truth" else mean_fill(image, mask, 8)
        return GeneratorOutput(out)


def test_scores_every_image_and_the_numbers_follow_the_fills():
    summary, shown = compare_with_baselines(_Copy("mean_fill"), _batches(), num_images=4)
    assert summary["ours"]["n_images"] == 5 == summary["telea"]["n_images"]
    # a generator that paints the mean fill scores exactly what the mean fill scores
    assert summary["ours"]["psnr"] == pytest.approx(summary["mean_fill"]["psnr"])
    assert summary["telea"]["psnr"] != pytest.approx(summary["mean_fill"]["psnr"])
    assert shown["ours"].shape == (4, 3, 64, 64) and set(shown) >= {"image", "mask", "telea"}
    perfect, _ = compare_with_baselines(_Copy("truth"), _batches())
    assert perfect["ours"]["psnr"] > perfect["telea"]["psnr"] + 10


def test_the_figure_labels_each_column_with_its_psnr():
    summary, shown = compare_with_baselines(_Copy("mean_fill"), _batches(), num_images=2)
    grid = baseline_grid(shown, summary)
    assert grid.shape[1] == 2 + 5 * (64 + 2)  # masked | ours | Telea | mean fill | truth
    header = grid[: grid.shape[0] - 2 * (64 + 2) - 2]
    assert (header < 128).any()  # text drawn


def test_callback_writes_figure_and_json_on_fit_end(tmp_path, caplog):
    module = SimpleNamespace(generator=_Copy("mean_fill"), device=torch.device("cpu"))
    trainer = SimpleNamespace(
        is_global_zero=True,
        interrupted=False,
        datamodule=SimpleNamespace(val_dataloader=_batches),
    )
    callback = BaselineFigure(tmp_path / "samples", num_images=3)
    with caplog.at_level("INFO", logger="inpaintgan.baseline_figure"):
        callback.on_fit_end(trainer, module)
    saved = json.loads((tmp_path / "samples" / "final_vs_baselines.json").read_text())
    assert set(saved) == {"ours", "telea", "mean_fill"}
    assert Image.open(tmp_path / "samples" / "final_vs_baselines.png").size[0] > 300
    assert "final val PSNR on 5 photos: ours" in caplog.text
    with pytest.raises(ValueError, match="unknown"):
        BaselineFigure(tmp_path, methods=["lama"])
