"""`python -m inpaintgan.evaluate ckpt=PATH data=celeba data.root=DIR mask=center out=DIR`.

Scores a trained generator (``ckpt=``) or a classical baseline (``model=telea|ns``) on a
data set with its fixed evaluation masks: PSNR and SSIM on the composited output (the
paper's Table 1), plus L1 and PSNR inside the hole, and LPIPS / FID when their weights are
on disk. Writes ``out/metrics.json``, ``out/per_image.csv`` and, with ``save_images=true``,
the composites as ``out/images/<stem>.png``.

The model runs behind :class:`inpaintgan.inpainter.Inpainter`, the one call that
``inpaintgan.predict`` runs too.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from inpaintgan.config import CONFIG_DIR, build, one_of, whole_number
from inpaintgan.errors import UsageError, run_command
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

FID_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
"""torch-fidelity's Inception v3 (TF port) weights file, looked up in the torch hub cache."""


def _hub_file(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def optional_metrics(
    want_lpips: bool, want_fid: bool, device: torch.device
) -> tuple[dict[str, Any], dict[str, str]]:
    """LPIPS / FID metric objects whose weights are on disk, and why the others are skipped.

    Nothing is ever downloaded: a missing weights file (or package) skips the metric with a
    one-line reason naming it.
    """
    metrics: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    if want_lpips:
        from torchvision.models import AlexNet_Weights

        weights = _hub_file(Path(AlexNet_Weights.IMAGENET1K_V1.url).name)
        if weights.is_file():
            from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

            metrics["lpips"] = LearnedPerceptualImagePatchSimilarity("alex", normalize=True)
        else:
            skipped["lpips"] = f"AlexNet weights {weights} not found (torchvision's file)"
    if want_fid:
        weights = _hub_file(FID_WEIGHTS)
        if importlib.util.find_spec("torch_fidelity") is None:
            skipped["fid"] = "package torch-fidelity is not installed (pip install torch-fidelity)"
        elif not weights.is_file():
            skipped["fid"] = f"Inception weights {weights} not found (torch-fidelity's file)"
        else:
            from torchmetrics.image.fid import FrechetInceptionDistance

            metrics["fid"] = FrechetInceptionDistance(
                normalize=True, feature_extractor_weights_path=str(weights)
            )
    return {k: m.to(device) for k, m in metrics.items()}, skipped


# ---------------------------------------------------------------------------- evaluation
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


SPLITS = ("train", "val", "test", "all")


def check_options(cfg: DictConfig) -> None:
    """The options of an evaluation, before anything is loaded: one UsageError line each,
    naming the key, the value and what is allowed."""
    if cfg.get("split") is not None:
        one_of(cfg.split, "split", SPLITS)
    whole_number(cfg.get("batch_size"), "batch_size")
    whole_number(cfg.get("max_images"), "max_images", none=True)
    whole_number(cfg.get("seed"), "seed", minimum=0)
    for key in ("save_images", "lpips", "fid", "overwrite"):
        one_of(cfg.get(key, False), key, (True, False))
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
        writes += [("this evaluation", p) for p in sorted(images.iterdir())]
    inputs = [cfg.ckpt] if cfg.get("ckpt") else []
    check_outputs(writes, inputs, bool(cfg.get("overwrite", False)))


def _hole_free(hole: torch.Tensor) -> list[int]:
    """Positions of the batch whose mask has no missing pixel."""
    return [i for i, n in enumerate(hole.flatten(1).sum(1).tolist()) if n == 0]


def evaluate(cfg: DictConfig, choices: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one evaluation; writes the outputs into ``cfg.out`` and returns metrics.json.

    Refused in one line before anything is scored: a bad option, results of an earlier run
    in ``out`` (without ``overwrite=true``), an empty set. While scoring: an image whose
    evaluation mask has no hole (a mask file is named), which would score a perfect fill.
    """
    from inpaintgan.data import InpaintingDataset, ReportingDataLoader, collate, to_float_batch

    choices = dict(choices or {})
    check_options(cfg)
    check_out(cfg)
    out = Path(cfg.out)
    inpainter = load_inpainter(cfg.get("ckpt"), cfg.get("model"), cfg.get("device"))
    mask = build(cfg.mask, "mask")
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
    loader = ReportingDataLoader(
        dataset,
        label=split,
        batch_size=int(cfg.batch_size),
        shuffle=False,
        num_workers=datamodule.num_workers,
        collate_fn=collate,
    )
    extra, skipped = optional_metrics(cfg.lpips, cfg.fid, inpainter.device)
    for metric, reason in skipped.items():
        print(f"{metric.upper()} skipped: {reason}", file=sys.stderr)

    out.mkdir(parents=True, exist_ok=True)
    image_dir = out / "images"
    if cfg.save_images:
        image_dir.mkdir(exist_ok=True)
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    wandb_cfg = cfg.get("wandb") or {}
    thumbs: dict[str, Any] | None = {} if wandb_cfg.get("enabled") else None
    started = time.perf_counter()
    with Progress(transient=True, disable=not cfg.get("progress", True)) as progress:
        task = progress.add_task(f"evaluating {inpainter.name}", total=len(dataset))
        for batch in loader:
            if not batch["name"]:  # only broken files in this batch
                continue
            # uint8 images / bool masks from the loader → float [0, 1] on the device
            batch = to_float_batch(batch, inpainter.device)
            image, hole = batch["image"], batch["mask"]
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
            for i, name in enumerate(batch["name"]):
                stem = _unique_stem(name, used)
                rows.append({"name": stem, **{k: float(v[i]) for k, v in scores.items()}})
                if cfg.save_images:
                    save_png(comp[i], image_dir / f"{stem}.png")
                if thumbs is not None and len(thumbs) < int(wandb_cfg.get("thumbnails", 0)):
                    size = int(wandb_cfg.get("thumbnail_size", 128))
                    thumbs[stem] = evaluation_thumbnails(image[i], hole[i], comp[i], size)
            if "lpips" in extra:
                extra["lpips"].update(comp, image)
            if "fid" in extra:
                extra["fid"].update(image, real=True)
                extra["fid"].update(comp, real=False)
            progress.advance(task, len(batch["name"]))
    seconds = time.perf_counter() - started
    broken = list(loader.last_report.broken) if loader.last_report else []
    for name in broken:
        print(f"inpaintgan.evaluate: skipped unreadable {name} (not scored)", file=sys.stderr)
    if not rows:
        raise UsageError(
            f"no image could be evaluated in split {split!r}"
            + (f" ({len(broken)} unreadable file(s), first {broken[0]})" if broken else "")
        )

    summary: dict[str, Any] = {
        "model": cfg.get("name") or inpainter.name,
        "checkpoint": inpainter.checkpoint,
        "data": choices.get("data") or "custom",
        "data_root": None if cfg.data.get("root") is None else str(cfg.data.root),
        "mask": choices.get("mask") or "custom",
        "split": split,
        "size": int(datamodule.size),
        "n_images": len(rows),
        "n_skipped": len(broken),
        "skipped_files": broken,
    }
    for key in ("psnr", "ssim", "hole_psnr", "hole_l1", "hole_ratio"):
        summary[key] = _mean([r[key] for r in rows])
    for key, metric in extra.items():
        if key == "fid" and len(rows) < 2:
            skipped["fid"] = "needs at least 2 images"
            continue
        summary[key] = float(metric.compute())
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
        log_evaluation(summary, rows, thumbs, out, **{k: wandb_cfg.get(k) for k in run_options})
    return summary


def print_summary(summary: dict[str, Any], out: str | Path, console: Console | None = None) -> None:
    """A short rich table of the run's means."""
    console = console or Console()
    table = Table(title=f"{summary['model']} · {summary['data']} · {summary['mask']}")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    formats = {
        "psnr": "{:.2f} dB",
        "ssim": "{:.4f}",
        "hole_psnr": "{:.2f} dB",
        "hole_l1": "{:.4f}",
        "hole_ratio": "{:.3f}",
        "lpips": "{:.4f}",
        "fid": "{:.2f}",
    }
    for key, fmt in formats.items():
        if summary.get(key) is not None:
            table.add_row(key, fmt.format(summary[key]))
    table.add_row("images", str(summary["n_images"]))
    if summary.get("n_skipped"):
        table.add_row("skipped (unreadable)", str(summary["n_skipped"]))
    console.print(table)
    console.print(f"wrote {Path(out) / 'metrics.json'} and per_image.csv")


@hydra.main(config_path=CONFIG_DIR, config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; user mistakes are one line on stderr and exit code 2."""
    choices = HydraConfig.get().runtime.choices
    # out/ not writable (read-only, permission, disk full): one line, exit code 1
    summary = run_command("evaluate", evaluate, cfg, choices, writes_to=cfg.out, write_exit_code=1)
    print_summary(summary, cfg.out)


if __name__ == "__main__":
    main()
