"""Issue 23's lever pilot as a markdown table: each pilot against the paper model at 2,000
batches with the grey hole (the ablation's seed 1), on one split, paired photo by photo.

    .venv/bin/python scripts/lever_table.py val      # or test | train

Reads the committed evaluations under docs/results/issue23/ (`lever/<pilot>_<split>/` and the
ablation's `<split>/paper_s1/`, `<split>/telea/`, `<split>/mean_fill/`; for the final setting's
seed 1, `final/<split>/paper_s1/` when it is there). One seed each: the interval is over
photos only (Student t, `inpaintgan.comparison.paired_difference`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from inpaintgan.comparison import paired_difference, read_per_image

ROOT = Path(__file__).resolve().parents[1] / "docs" / "results" / "issue23"
# label: (folder pattern under issue23/ with {split}, batches, photos, hole fill, norm)
PILOTS = {
    "paper (the ablation's seed 1)": ("{split}/paper_s1", "2k", 80, "grey", "instance"),
    "paper, 6k": ("lever/paper_6k_{split}", "6k", 80, "grey", "instance"),
    "paper, half the photos": ("lever/paper_half_2k_{split}", "2k", 40, "grey", "instance"),
    "paper, no norm": ("lever/paper_nonorm_2k_{split}", "2k", 80, "grey", "none"),
    "paper, ring-mean hole": ("lever/paper_ringfill_2k_{split}", "2k", 80, "ring mean", "instance"),
    "paper, ring-mean hole, 6k (final, seed 1)": (
        "final/{split}/paper_s1",
        "6k",
        80,
        "ring mean",
        "instance",
    ),  # fmt: skip
    "Telea": ("{split}/telea", "", "", "", ""),
    "mean fill": ("{split}/mean_fill", "", "", "", ""),
}
TRAIN_SPLIT = {"{split}/paper_s1": "lever/paper_2k_train", "{split}/telea": "lever/telea_train",
               "{split}/mean_fill": "lever/mean_fill_train"}  # fmt: skip


def folder(pattern: str, split: str) -> Path:
    if split == "train" and pattern in TRAIN_SPLIT:
        return ROOT / TRAIN_SPLIT[pattern]
    return ROOT / pattern.format(split=split)


def main() -> None:
    split = sys.argv[1] if len(sys.argv) > 1 else "val"
    base_dir = folder(PILOTS["paper (the ablation's seed 1)"][0], split)
    base = read_per_image(base_dir, "psnr")
    print(f"| pilot ({split}, {len(base)} photos) | batches | photos | hole | norm | PSNR | SSIM "
          "| Δ PSNR vs the first row [95 %, photos] | wins |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for label, (pattern, batches, photos, hole, norm) in PILOTS.items():
        run = folder(pattern, split)
        if not (run / "per_image.csv").is_file():
            continue
        psnr, ssim = read_per_image(run, "psnr"), read_per_image(run, "ssim")
        mean = sum(psnr.values()) / len(psnr)
        mean_ssim = sum(ssim.values()) / len(ssim)
        if run == base_dir:
            delta, wins = "–", "–"
        else:
            diff = paired_difference(label, [psnr], "base", [base])
            delta = f"{diff.mean:+.2f} [{diff.photo_low:+.2f}, {diff.photo_high:+.2f}]"
            wins = f"{sum(psnr[p] > base[p] for p in base)} / {len(base)}"
        print(f"| {label} | {batches} | {photos} | {hole} | {norm} | {mean:.2f} | "
              f"{mean_ssim:.3f} | {delta} | {wins} |")  # fmt: skip


if __name__ == "__main__":
    main()
