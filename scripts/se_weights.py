"""How much the SE channel weights S vary across photos, per SE level, for trained checkpoints.

    .venv/bin/python scripts/se_weights.py outputs/ablation/train/paper_s1/checkpoints/last.ckpt ...

Reads the val photos of the scenes_small split (by scene) from ../shared/data/scenes (or
SCENES=...), 128² center crops with the 64² center hole, and prints for each SE level the
spread of S across the photos (standard deviation per channel, averaged over channels) and
its range. An inert SE block (the literal squeeze after InstanceNorm) prints sd 0.000.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from inpaintgan.checkpoints import load_generator
from inpaintgan.data.datasets import split_by_fraction


def center_crop(path: Path, size: int = 128) -> np.ndarray:
    image = Image.open(path).convert("RGB")
    scale = size / min(image.size)
    image = image.resize(
        (max(size, round(image.width * scale)), max(size, round(image.height * scale)))
    )
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)))


def main() -> None:
    scenes = sorted(Path(os.environ.get("SCENES", "../shared/data/scenes")).glob("*.jpg"))
    val = split_by_fraction(scenes, 0.0885, 0.2035, 0, "scene")["val"]
    images = torch.from_numpy(np.stack([center_crop(p) for p in val])).permute(0, 3, 1, 2) / 255
    mask = torch.zeros(len(val), 1, 128, 128)
    mask[..., 32:96, 32:96] = 1
    for checkpoint in sys.argv[1:]:
        generator, _ = load_generator(checkpoint)
        seen: dict[str, torch.Tensor] = {}

        def keep(name: str, store: dict[str, torch.Tensor] = seen):
            def hook(module, args, _out):
                store[name] = module.channel_weights(*args).flatten(1)

            return hook

        for name, se_block in generator.se.items():
            se_block.register_forward_hook(keep(name))
        with torch.no_grad():
            generator(images.float(), mask)
        levels = " ".join(
            f"L{n}: sd {s.std(0).mean():.3f} [{s.min():.2f}, {s.max():.2f}]"
            for n, s in sorted(seen.items())
        )
        print(f"{checkpoint}: {len(val)} val photos; {levels}")


if __name__ == "__main__":
    main()
