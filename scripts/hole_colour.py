"""How well each fill gets the hole's mean colour: the low-frequency part of its error.

    .venv/bin/python scripts/hole_colour.py val mean_fill telea \
        outputs/ablation/train/paper_s1/checkpoints/last.ckpt ...

Scores the photos of SPLIT (val | test | train) of the scenes_small split (by scene) of
../shared/data/scenes (or SCENES=...), 128² center crops with the 64² center hole, as
`evaluate` loads them. For each fill (a checkpoint, an export, or telea / ns / mean_fill)
it prints a markdown row: the mean absolute error of the hole's mean colour (per image, over
RGB, in [0, 1]), the hole MSE, and the share of that MSE that is the mean-colour error
alone (the squared error of the hole mean, per image, averaged). A fill that continues the
surrounding colour has a small colour error; issue 23 found the learned fills' larger than
the flat mean fill's (docs/model.md, "What the input holds in the hole").
"""

from __future__ import annotations

import os
import sys

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from inpaintgan.config import CONFIG_DIR
from inpaintgan.data.datamodule import collate
from inpaintgan.data.datasets import InpaintingDataset
from inpaintgan.data.masks import CenterMask
from inpaintgan.inpainter import load_inpainter


def scenes_small_source(root: str):
    """The image source of ``experiment=scenes_small`` (its split by scene) at ``root``."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=scenes_small", f"data.root={root}"])
    return instantiate(cfg.data.source)


def colour_errors(fill: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> dict:
    """Per-image mean-colour error, hole MSE and the colour share, averaged over images."""
    area = mask.sum((2, 3))
    truth = (image * mask).sum((2, 3)) / area
    filled = (fill * mask).sum((2, 3)) / area
    colour_sq = ((filled - truth) ** 2).mean(1)
    mse = (((fill - image) ** 2) * mask).sum((1, 2, 3)) / (3 * area[:, 0])
    return {
        "colour_error": float((filled - truth).abs().mean(1).mean()),
        "hole_mse": float(mse.mean()),
        "colour_share": float((colour_sq / mse).mean()),
    }


def main() -> None:
    if len(sys.argv) < 3 or sys.argv[1] not in ("val", "test", "train"):
        sys.exit("usage: hole_colour.py val|test|train FILL [FILL ...]")
    split, fills = sys.argv[1], sys.argv[2:]
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    source = scenes_small_source(os.environ.get("SCENES", "../shared/data/scenes"))
    # train=False: center crops for every split (as `evaluate split=train`), no augmentation
    dataset = InpaintingDataset(source.paths(split), 128, CenterMask(), train=False, seed=42)
    batch = collate([dataset[i] for i in range(len(dataset))])
    image, mask = batch["image"].float() / 255, batch["mask"].float()
    print(f"{split}: {image.shape[0]} photos, 64x64 center hole")
    print("| fill | mean-colour error | hole MSE | colour share of the MSE |")
    print("|---|---|---|---|")
    for name in fills:
        scores = colour_errors(load_inpainter(name, device="cpu")(image, mask), image, mask)
        print(
            f"| {name} | {scores['colour_error']:.4f} | {scores['hole_mse']:.5f} "
            f"| {100 * scores['colour_share']:.0f} % |"
        )


if __name__ == "__main__":
    main()
