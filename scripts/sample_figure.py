"""A figure of fills side by side, for docs/ (used by scripts/results.sh and scripts/pilots.sh).

    python scripts/sample_figure.py [--overwrite] SCENES SPLIT TARGET "TITLE=DIR" ... [--every N]

Rows: the photos of SPLIT (the scenes_small experiment's split of SCENES) whose licence
allows redistribution, every N-th of them, at most four (a rule fixed before any model is
trained). Columns: the masked input, one column per TITLE=IMAGES_DIR (an evaluate
``save_images=true`` folder), the ground truth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from PIL import Image, ImageDraw

from inpaintgan.config import CONFIG_DIR
from inpaintgan.data import image_to_float, mask_to_float

REDISTRIBUTABLE = ("CC0", "CC-BY", "GPL")  # licences of shared/data/embeddable/scenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenes")
    parser.add_argument("split")
    parser.add_argument("target", type=Path)
    parser.add_argument("columns", nargs="+", help="TITLE=IMAGES_DIR")
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing target")
    args = parser.parse_args()
    if args.target.exists() and not args.overwrite:
        parser.exit(
            2, f"sample_figure: error: {args.target} exists; pass --overwrite to replace it\n"
        )

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=scenes_small", f"data.root={args.scenes}"])
    datamodule = instantiate(
        cfg.data, mask=instantiate(cfg.mask), eval_mask=instantiate(cfg.eval_mask), seed=cfg.seed
    )
    dataset = datamodule.dataset(args.split)
    licences = {}
    sources = Path(args.scenes) / "SOURCES.tsv"
    if sources.is_file():
        for line in sources.read_text().splitlines()[1:]:
            fields = line.split("\t")
            licences[fields[0]] = fields[-1]
    free = [
        i
        for i in range(len(dataset))
        if licences.get(dataset.path(i).name, "").startswith(REDISTRIBUTABLE)
    ]
    rows = (free or list(range(len(dataset))))[:: args.every][:4]

    columns = [("masked", None)]
    columns += [(c.split("=", 1)[0], Path(c.split("=", 1)[1])) for c in args.columns]
    columns += [("ground truth", None)]
    size, pad, header = datamodule.size, 2, 16
    canvas = Image.new(
        "RGB",
        (len(columns) * (size + pad) - pad, header + len(rows) * (size + pad) - pad),
        "white",
    )
    draw = ImageDraw.Draw(canvas)
    for c, (title, _) in enumerate(columns):
        draw.text((c * (size + pad) + 4, 2), title, fill="black")
    for r, index in enumerate(rows):
        sample = dataset[index]
        image = image_to_float(sample["image"]).permute(1, 2, 0).numpy()
        mask = mask_to_float(sample["mask"])[0].numpy()[..., None]
        tiles = {"masked": image * (1 - mask) + mask, "ground truth": image}
        for c, (title, folder) in enumerate(columns):
            if folder is None:
                tile = Image.fromarray((tiles[title] * 255).round().astype(np.uint8))
            else:
                tile = Image.open(folder / f"{sample['name']}.png")
            canvas.paste(tile, (c * (size + pad), header + r * (size + pad)))
        print("figure row:", sample["name"], licences.get(dataset.path(index).name, "?"))
    args.target.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(args.target, optimize=True)
    if args.target.stat().st_size > 500_000:  # keep the committed figure small
        canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            args.target, optimize=True
        )
    print(f"wrote {args.target} ({args.target.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
