"""The generalisation gap of a model trained on part of the train split (`data.train_subset`).

    .venv/bin/python scripts/seen_unseen.py 40 RUN_TRAIN_EVAL TELEA_TRAIN_EVAL [OTHER_TRAIN_EVAL]

RUN_TRAIN_EVAL is the `evaluate split=train` folder (its per_image.csv) of a model trained
with `data.train_subset=N` on the scenes_small split (by scene) of ../shared/data/scenes (or
SCENES=...); TELEA_TRAIN_EVAL the same for Telea; OTHER_TRAIN_EVAL optionally a model
trained on all train photos. Splits the train photos into the N the model saw (the evenly
spread positions of the sorted train list) and the rest, which it never saw, and prints a
markdown row per part: the model's mean PSNR, Telea's, the paired difference with a 95 %
t interval over photos, and the other model's mean on the same photos.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from scipy import stats

from inpaintgan.config import CONFIG_DIR
from inpaintgan.data.loaders import evenly_spread


def scenes_small_source(root: str):
    """The image source of ``experiment=scenes_small`` (its split by scene) at ``root``."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=scenes_small", f"data.root={root}"])
    return instantiate(cfg.data.source)


def per_image(folder: str) -> dict[str, float]:
    with (Path(folder) / "per_image.csv").open(newline="") as handle:
        return {row["name"]: float(row["psnr"]) for row in csv.DictReader(handle)}


def main() -> None:
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.splitlines()[2].strip())
    count, model, telea = int(sys.argv[1]), per_image(sys.argv[2]), per_image(sys.argv[3])
    other = per_image(sys.argv[4]) if len(sys.argv) == 5 else None
    source = scenes_small_source(os.environ.get("SCENES", "../shared/data/scenes"))
    train = source.paths("train")
    seen = {train[i].stem for i in evenly_spread(len(train), count) or range(len(train))}
    extra = (" other model |", "---|") if other else ("", "")
    print("| photos | n | model | Telea | model − Telea [95 %] |" + extra[0])
    print("|---|---|---|---|---|" + extra[1])
    for label, names in (
        ("seen in training", [n for n in model if n in seen]),
        ("never seen (rest of the train split)", [n for n in model if n not in seen]),
    ):
        ours, theirs = np.array([model[n] for n in names]), np.array([telea[n] for n in names])
        diff = ours - theirs
        half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
        row = (
            f"| {label} | {len(names)} | {ours.mean():.2f} | {theirs.mean():.2f} | "
            f"{diff.mean():+.2f} [{diff.mean() - half:+.2f}, {diff.mean() + half:+.2f}] |"
        )
        if other is not None:
            row += f" {np.mean([other[n] for n in names]):.2f} |"
        print(row)


if __name__ == "__main__":
    main()
