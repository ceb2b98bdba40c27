"""Scoring an inpainter on a data set: the library behind ``python -m inpaintgan.evaluate``.

:func:`evaluate` runs one evaluation from its config (the command's, ``conf/evaluate.yaml``):
the fixed evaluation masks of the mask config, or with ``mask=buckets`` each hole-ratio
bucket's masks (:mod:`inpaintgan.data.buckets`); PSNR / SSIM / hole metrics on the composite
(:mod:`inpaintgan.metrics`) and, when asked for with ``metrics=[...,lpips,fid]``, LPIPS and
FID (:mod:`inpaintgan.perceptual`, refused in one line without their weights). It writes
``out/metrics.json``, ``out/per_image.csv`` (and ``out/images/``) and returns metrics.json.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from inpaintgan.config import build, one_of, whole_number
from inpaintgan.data.buckets import BucketMasks
from inpaintgan.data.masks import CenterMask
from inpaintgan.errors import UsageError
from inpaintgan.inpainter import load_inpainter, save_png
from inpaintgan.io import RESULT_FILES, check_outputs, write_atomically
from inpaintgan.loggers import evaluation_thumbnails, log_evaluation
from inpaintgan.metrics import (
    PSNR_CAP,
    hole_l1,
    hole_psnr,
    hole_ratio,
    psnr_per_image,
    ssim_per_image,
)
from inpaintgan.perceptual import (
    FID_UNBIASED_IMAGES,
    LPIPS,
    FrechetInceptionDistance,
    InceptionFeatures,
    find_weights,
)

METRICS = ("psnr", "ssim", "lpips", "fid")
"""What ``metrics=[...]`` may name. PSNR, SSIM and the hole metrics are always computed
(they cost nothing); LPIPS and FID only when named, and then never without their weights."""
PER_IMAGE = ("psnr", "ssim", "hole_psnr", "hole_l1", "hole_ratio")
SPLITS = ("train", "val", "test", "all")


def default_split(datamodule: Any) -> str:
    """A plain folder is evaluated whole; data sets with splits on their test split."""
    from inpaintgan.data.datasets import FolderSource

    return "all" if type(datamodule.source) is FolderSource else "test"


def _unique_stem(name: str, used: set[str]) -> str:
    stem = Path(name).name
    candidate, n = stem, 1
    while candidate in used:
        candidate, n = f"{stem}_{n}", n + 1
    used.add(candidate)
    return candidate


def _cell(value: Any) -> Any:
    """CSV cell: floats with 6 decimals (NaN for a hole metric of an empty mask)."""
    return f"{value:.6f}" if isinstance(value, float) else value


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


def wanted_metrics(cfg: DictConfig) -> list[str]:
    """The metrics of ``cfg.metrics``, checked, with the deprecated ``lpips=`` / ``fid=``
    flags applied (true adds the metric, false removes it, null leaves ``metrics`` alone)."""
    given = cfg.get("metrics")
    names = [given] if isinstance(given, str) else list(given or [])
    for name in names:
        one_of(name, "metrics", METRICS)
    for key in ("lpips", "fid"):
        flag = cfg.get(key)
        one_of(flag, key, (True, False, None))
        if flag is True and key not in names:
            names.append(key)
        elif flag is False and key in names:
            names.remove(key)
    return names


def check_options(cfg: DictConfig) -> None:
    """The options of an evaluation, before anything is loaded: one UsageError line each,
    naming the key, the value and what is allowed."""
    if cfg.get("split") is not None:
        one_of(cfg.split, "split", SPLITS)
    whole_number(cfg.get("batch_size"), "batch_size")
    whole_number(cfg.get("max_images"), "max_images", none=True)
    whole_number(cfg.get("seed"), "seed", minimum=0)
    for key in ("save_images", "overwrite"):
        one_of(cfg.get(key, False), key, (True, False))
    one_of((cfg.get("weights") or {}).get("download", False), "weights.download", (True, False))
    wanted_metrics(cfg)
    data = cfg.get("data") or {}
    for key in ("size", "batch_size", "eval_batch_size", "load_size"):
        whole_number(data.get(key), f"data.{key}", none=True)
    whole_number(data.get("num_workers", 0), "data.num_workers", minimum=0)


def check_out(cfg: DictConfig) -> None:
    """The writer rule for ``out`` (:func:`inpaintgan.io.check_outputs`): metrics.json,
    per_image.csv (and images/ with save_images) of an earlier run are replaced only with
    ``overwrite=true``; ``out`` may not hold the checkpoint."""
    out = Path(cfg.out)
    writes = [("this evaluation", out / name) for name in RESULT_FILES]
    images = out / "images"
    if cfg.get("save_images") and images.is_dir():
        writes += [("this evaluation", p) for p in sorted(images.rglob("*.png"))]
    inputs = [cfg.ckpt] if cfg.get("ckpt") else []
    check_outputs(writes, inputs, bool(cfg.get("overwrite", False)))


def perceptual_metrics(
    names: list[str], weights: Any, device: torch.device
) -> tuple[LPIPS | None, FrechetInceptionDistance | None]:
    """The LPIPS network and FID accumulator of ``names``, their weights found by
    :func:`inpaintgan.perceptual.find_weights` (a missing file: one UsageError line)."""
    weights = weights or {}
    download = bool(weights.get("download", False))
    lpips = fid = None
    paths = {m: find_weights(m, weights.get(m), download) for m in ("lpips", "fid") if m in names}
    if "lpips" in paths:
        lpips = LPIPS(paths["lpips"]).to(device)
    if "fid" in paths:
        fid = FrechetInceptionDistance(InceptionFeatures(paths["fid"]).to(device))
    return lpips, fid


def _hole_free(hole: torch.Tensor) -> list[int]:
    """Positions of the batch whose mask has no missing pixel."""
    return [i for i, n in enumerate(hole.flatten(1).sum(1).tolist()) if n == 0]


def _bucket_holes(
    buckets: BucketMasks, name: str, first: int, image: torch.Tensor, seed: int
) -> torch.Tensor:
    """The bucket's masks of images ``first, first + 1, ...`` of the split, ``[B, 1, H, W]``."""
    height, width = image.shape[-2:]
    masks = [
        torch.from_numpy(buckets.mask(name, first + i, height, width, seed))
        for i in range(len(image))
    ]
    return torch.stack(masks)[:, None].to(image.device, image.dtype)


def summarize(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """Means of the per-image scores of ``rows`` (NaN hole metrics left out)."""
    keys = [k for k in rows[0] if k not in ("name", "bucket")] if rows else []
    return {key: _mean([r[key] for r in rows]) for key in keys}


def evaluate(cfg: DictConfig, choices: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one evaluation; writes the outputs into ``cfg.out`` and returns metrics.json.

    Refused in one line before anything is scored: a bad option, results of an earlier run
    in ``out`` (without ``overwrite=true``), an empty set, LPIPS / FID without their weights.
    While scoring: an image whose evaluation mask has no hole (a mask file is named), which
    would score a perfect fill.
    """
    from inpaintgan.data import InpaintingDataset, ReportingDataLoader, collate, to_float_batch

    choices = dict(choices or {})
    check_options(cfg)
    check_out(cfg)
    names = wanted_metrics(cfg)
    out = Path(cfg.out)
    inpainter = load_inpainter(cfg.get("ckpt"), cfg.get("model"), cfg.get("device"))
    mask = build(cfg.mask, "mask")
    buckets = mask if isinstance(mask, BucketMasks) else None
    if buckets is not None:
        mask = CenterMask()  # the data set's own mask is unused: each bucket brings its own
    if hasattr(mask, "require_hole"):
        mask.require_hole = True  # a mask file without a hole is named, not scored
    datamodule = build(cfg.data, "data", mask=mask, eval_mask=mask, seed=cfg.seed)
    split = cfg.get("split") or default_split(datamodule)
    dataset: InpaintingDataset | torch.utils.data.Subset = datamodule.dataset(split)
    dataset.substitute = False  # a broken file is skipped and listed, never replaced
    if cfg.get("max_images"):
        dataset = torch.utils.data.Subset(dataset, range(min(len(dataset), cfg.max_images)))
    if len(dataset) == 0:
        raise UsageError(f"split={split}: no images to evaluate (an empty set scores nothing)")
    lpips, fid = perceptual_metrics(names, cfg.get("weights"), inpainter.device)
    loader = ReportingDataLoader(
        dataset,
        label=split,
        batch_size=int(cfg.batch_size),
        shuffle=False,
        num_workers=datamodule.num_workers,
        collate_fn=collate,
    )
    groups: list[str | None] = list(buckets.names) if buckets is not None else [None]

    out.mkdir(parents=True, exist_ok=True)
    image_dir = out / "images"
    if cfg.save_images:
        image_dir.mkdir(exist_ok=True)
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    wandb_cfg = cfg.get("wandb") or {}
    thumbs: dict[str, Any] | None = {} if wandb_cfg.get("enabled") else None
    position = 0  # index of the batch's first image in the split (bucket mask files)
    started = time.perf_counter()
    with Progress(transient=True, disable=not cfg.get("progress", True)) as progress:
        task = progress.add_task(f"evaluating {inpainter.name}", total=len(dataset))
        for batch in loader:
            if not batch["name"]:  # only broken files in this batch
                continue
            # uint8 images / bool masks from the loader → float [0, 1] on the device
            batch = to_float_batch(batch, inpainter.device)
            image = batch["image"]
            stems = [_unique_stem(name, used) for name in batch["name"]]
            if fid is not None:
                fid.update_real(image)
            for group in groups:
                if group is None:
                    hole = batch["mask"]
                else:
                    hole = _bucket_holes(buckets, group, position, image, int(cfg.seed))
                empty = _hole_free(hole)
                if empty:
                    raise UsageError(
                        f"the evaluation mask of {batch['name'][empty[0]]} has no hole (mask "
                        f"{choices.get('mask') or 'custom'}): it would score an untouched image "
                        "(PSNR 100 dB); give a mask config that leaves a hole"
                    )
                comp = inpainter(image, hole)
                scores = {
                    "psnr": psnr_per_image(comp, image),
                    "ssim": ssim_per_image(comp, image),
                    "hole_psnr": hole_psnr(comp, image, hole),
                    "hole_l1": hole_l1(comp, image, hole),
                    "hole_ratio": hole_ratio(hole),
                }
                if lpips is not None:
                    scores["lpips"] = lpips(comp, image)
                if fid is not None:
                    fid.update(group or "all", comp)
                for i, stem in enumerate(stems):
                    row: dict[str, Any] = {"name": stem}
                    if group is not None:
                        row["bucket"] = group
                    rows.append({**row, **{k: float(v[i]) for k, v in scores.items()}})
                    file = f"{group}/{stem}.png" if group is not None else f"{stem}.png"
                    if cfg.save_images:
                        (image_dir / file).parent.mkdir(exist_ok=True)
                        save_png(comp[i], image_dir / file)
                    limit = int(wandb_cfg.get("thumbnails", 0))
                    if thumbs is not None and len(thumbs) < limit:
                        size = int(wandb_cfg.get("thumbnail_size", 128))
                        key = stem if group is None else f"{stem}@{group}"
                        thumbs[key] = evaluation_thumbnails(image[i], hole[i], comp[i], size)
            position += len(stems)
            progress.advance(task, len(stems))
    seconds = time.perf_counter() - started
    broken = list(loader.last_report.broken) if loader.last_report else []
    for name in broken:
        print(f"inpaintgan.evaluate: skipped unreadable {name} (not scored)", file=sys.stderr)
    if not rows:
        raise UsageError(
            f"no image could be evaluated in split {split!r}"
            + (f" ({len(broken)} unreadable file(s), first {broken[0]})" if broken else "")
        )

    n_images = position
    summary: dict[str, Any] = {
        "model": cfg.get("name") or inpainter.name,
        "checkpoint": inpainter.checkpoint,
        "data": choices.get("data") or "custom",
        "data_root": None if cfg.data.get("root") is None else str(cfg.data.root),
        "mask": choices.get("mask") or "custom",
        "split": split,
        "size": int(datamodule.size),
        "n_images": n_images,
        "n_skipped": len(broken),
        "skipped_files": broken,
    }
    summary.update(summarize(rows))  # over all images (and buckets)
    skipped: dict[str, str] = {}
    if fid is not None:
        if n_images < 2:
            skipped["fid"] = "needs at least 2 images"
        else:
            keys = groups if buckets is not None else ["all"]
            values = {g: fid.compute(g) for g in keys if g is not None}
            summary["fid"] = _mean(list(values.values())) if buckets is not None else values["all"]
            summary["fid_images"] = n_images
    if buckets is not None:
        summary["buckets"] = {}
        for group in groups:
            members = [r for r in rows if r["bucket"] == group]
            entry: dict[str, Any] = {"range": list(buckets.ranges[group]), "n_images": len(members)}
            entry.update(summarize(members))
            if fid is not None and "fid" not in skipped:
                entry["fid"], entry["fid_images"] = values[group], len(members)
            summary["buckets"][group] = entry
        summary["bucket_masks"] = str(buckets.folder(*_image_size(datamodule), int(cfg.seed)))
    summary.update(
        psnr_cap=PSNR_CAP,
        skipped_metrics=skipped,
        device=str(inpainter.device),
        seconds=round(seconds, 3),
        images_per_s=round(len(rows) / max(seconds, 1e-9), 3),
        seed=int(cfg.seed),
        config={
            "data": OmegaConf.to_container(cfg.data, resolve=True),
            "mask": OmegaConf.to_container(cfg.mask, resolve=True),
            "model": OmegaConf.to_container(cfg.model, resolve=True) if cfg.get("model") else None,
        },
    )

    def write_csv(tmp: Path) -> None:
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)

    write_atomically(out / "per_image.csv", write_csv)
    write_atomically(
        out / "metrics.json", lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n")
    )
    if thumbs is not None:
        run_options = ("project", "mode", "entity", "name", "group", "tags")
        named = [{**r, "name": f"{r['name']}@{r['bucket']}"} if "bucket" in r else r for r in rows]
        log_evaluation(summary, named, thumbs, out, **{k: wandb_cfg.get(k) for k in run_options})
    return summary


def _image_size(datamodule: Any) -> tuple[int, int]:
    size = int(datamodule.size)
    return size, size


FORMATS = {
    "psnr": "{:.2f} dB",
    "ssim": "{:.4f}",
    "hole_psnr": "{:.2f} dB",
    "hole_l1": "{:.4f}",
    "hole_ratio": "{:.3f}",
    "lpips": "{:.4f}",
    "fid": "{:.2f}",
}


def print_summary(summary: dict[str, Any], out: str | Path, console: Console | None = None) -> None:
    """A short rich table of the run's means (one column per hole-ratio bucket, if any)."""
    console = console or Console()
    table = Table(title=f"{summary['model']} · {summary['data']} · {summary['mask']}")
    table.add_column("metric")
    buckets = summary.get("buckets") or {}
    columns = [("mean", summary)] + [(f"{k} %", v) for k, v in buckets.items()]
    for title, _ in columns:
        table.add_column(title, justify="right")
    for key, fmt in FORMATS.items():
        if any(entry.get(key) is not None for _, entry in columns):
            cells = [
                "–" if entry.get(key) is None else fmt.format(entry[key]) for _, entry in columns
            ]
            table.add_row(key, *cells)
    table.add_row("images", *[str(entry["n_images"]) for _, entry in columns])
    if summary.get("n_skipped"):
        table.add_row("skipped (unreadable)", str(summary["n_skipped"]))
    console.print(table)
    if summary.get("fid") is not None and summary.get("fid_images", 0) < FID_UNBIASED_IMAGES:
        console.print(
            f"FID over {summary['fid_images']} images: biased upwards below "
            f"{FID_UNBIASED_IMAGES:,} images; compare only runs with the same count"
        )
    console.print(f"wrote {Path(out) / 'metrics.json'} and per_image.csv")
