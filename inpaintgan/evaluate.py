"""`python -m inpaintgan.evaluate ckpt=PATH data=celeba data.root=DIR mask=center out=DIR`.

Scores a trained generator (``ckpt=``) or a classical baseline (``model=telea|ns``) on a
data set with its fixed evaluation masks: PSNR and SSIM on the composited output (the
paper's Table 1), plus L1 and PSNR inside the hole, and LPIPS / FID when their weights are
on disk. Writes ``out/metrics.json``, ``out/per_image.csv`` and, with ``save_images=true``,
the composites as ``out/images/<stem>.png``.

This module also holds :class:`Inpainter`, the one call (``inpainter(image, mask)``) that
evaluation and ``inpaintgan.predict`` run, whatever model is behind it.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
import torch.nn.functional as F
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from torch import Tensor, nn

from inpaintgan.checkpoints import CheckpointError, load_generator
from inpaintgan.config import CONFIG_DIR
from inpaintgan.loggers import evaluation_thumbnails, log_evaluation
from inpaintgan.metrics import (
    PSNR_CAP,
    composite,
    hole_l1,
    hole_psnr,
    hole_ratio,
    psnr_per_image,
    ssim_per_image,
)

DEFAULT_SIZE_MULTIPLE = 256
"""Size multiple assumed for a generator without a ``size_multiple`` attribute."""


class UsageError(ValueError):
    """A user mistake in the command line; reported as one line, exit code 2."""


# ------------------------------------------------------------------------------ inpainter
def resolve_device(device: str | None) -> torch.device:
    """``auto`` (or None): the GPU when there is one, else the CPU. A device that this
    machine does not have (``cuda`` without a GPU, ``cuda:3`` with two) is a UsageError."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        target = torch.device(str(device))
    except RuntimeError as err:
        raise UsageError(
            f"device={device} is not a device name (auto, cpu, cuda, cuda:1 ...)"
        ) from err
    if target.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(
                f"device={device}: this machine has no CUDA GPU; use device=cpu or auto"
            )
        if target.index is not None and target.index >= count:
            raise UsageError(f"device={device}: this machine has {count} CUDA GPU(s) (cuda:0..)")
    elif target.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"device={device}: MPS is not available here; use device=cpu or auto")
    return target


@dataclass
class Inpainter:
    """A generator or classical baseline behind one call: ``inpainter(image, mask)``.

    Takes ``[B,3,H,W]`` images in ``[0, 1]`` and ``[B,1,H,W]`` masks (1 = missing) of any
    size and returns the composite (known pixels pasted back) at that size, on ``device``.
    The input is padded (reflect) to ``size_multiple`` and cropped back; a network built
    for one ``fixed_size`` only (Context Encoder) gets the image resized to it, and its fill
    is resized back.
    """

    module: nn.Module
    name: str
    device: torch.device
    size_multiple: int = 1
    checkpoint: str | None = None
    fixed_size: int | None = None

    @torch.inference_mode()
    def __call__(self, image: Tensor, mask: Tensor) -> Tensor:
        image, mask = image.to(self.device).float(), mask.to(self.device).float()
        if self.fixed_size and tuple(image.shape[-2:]) != (self.fixed_size, self.fixed_size):
            return resize_inpaint(self._run, image, mask, (self.fixed_size, self.fixed_size))
        return self._run(image, mask)

    def _run(self, image: Tensor, mask: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        padded_image, padded_mask = pad_to_multiple(image, mask, self.size_multiple)
        output = self.module(padded_image, padded_mask).image[..., :height, :width]
        return composite(output.float().clamp(0, 1), image, mask)


def size_requirements(module: nn.Module) -> tuple[int, int | None]:
    """``(size_multiple, fixed_size)`` of a network, read from its attributes.

    ``size_multiple`` / ``fixed_size`` when the module declares them; otherwise a U-Net
    with ``depth`` levels needs multiples of ``2**depth``, a network with only an
    ``image_size`` runs at exactly that size, and anything else gets multiples of
    :data:`DEFAULT_SIZE_MULTIPLE`.
    """
    if hasattr(module, "size_multiple") or hasattr(module, "fixed_size"):
        return int(getattr(module, "size_multiple", 1) or 1), getattr(module, "fixed_size", None)
    if isinstance(getattr(module, "depth", None), int):
        return 2**module.depth, None
    if isinstance(getattr(module, "image_size", None), int):
        return 1, module.image_size
    return DEFAULT_SIZE_MULTIPLE, None


def resize_inpaint(
    run: Callable[[Tensor, Tensor], Tensor], image: Tensor, mask: Tensor, size: tuple[int, int]
) -> Tensor:
    """Inpaint a resized copy with ``run`` and paste its fill, resized back, into ``image``.

    Downscaling takes any partly missing pixel as missing (area average > 0), so thin
    strokes survive; known pixels of the result are those of ``image`` at full resolution.
    """
    small_image = F.interpolate(image, size=size, mode="bilinear", antialias=True).clamp(0, 1)
    small_mask = (F.interpolate(mask, size=size, mode="area") > 0).to(mask.dtype)
    small = run(small_image, small_mask)
    fill = F.interpolate(small, size=image.shape[-2:], mode="bicubic").clamp(0, 1)
    return composite(fill, image, mask)


def pad_to_multiple(image: Tensor, mask: Tensor, multiple: int) -> tuple[Tensor, Tensor]:
    """Pad bottom/right to a multiple of ``multiple``: the image by reflection (replication
    where the image is too small to reflect), the mask with 0 (padded pixels are known)."""
    height, width = image.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not pad_h and not pad_w:
        return image, mask
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(image, (0, pad_w, 0, pad_h), mode=mode), F.pad(mask, (0, pad_w, 0, pad_h))


def load_inpainter(
    ckpt: str | None, model_cfg: DictConfig | None, device: str | None = "auto"
) -> Inpainter:
    """The checkpoint's generator, or the classical baseline of ``model=telea|ns|mean_fill``."""
    target = resolve_device(device)
    classical = model_cfg is not None and model_cfg.get("inpainter") is not None
    if ckpt and model_cfg is not None:
        raise UsageError(
            "give either ckpt=PATH or a classical model=telea|ns|mean_fill, not both "
            "(a checkpoint carries its own model config)"
        )
    if ckpt:
        generator, config = load_generator(ckpt, map_location=target)
        name = config.get("model", {}).get("name") or Path(ckpt).stem
        multiple, fixed = size_requirements(generator)
        return Inpainter(generator, str(name), target, multiple, str(ckpt), fixed)
    if classical:
        module = instantiate(model_cfg.inpainter).to(target).eval()
        name = model_cfg.get("name") or type(module).__name__
        multiple, fixed = size_requirements(module)
        return Inpainter(module, str(name), target, multiple, None, fixed)
    if model_cfg is not None:
        raise UsageError(
            f"model={model_cfg.get('name', '?')} needs trained weights: pass ckpt=PATH "
            "(model= alone selects only the classical baselines telea, ns, mean_fill)"
        )
    raise UsageError(
        "nothing to run: pass ckpt=PATH (a trained or exported checkpoint) "
        "or model=telea|ns|mean_fill"
    )


# ------------------------------------------------------------------ optional metrics
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


def save_image(image: Tensor, path: Path) -> None:
    """Write ``[3, H, W]`` in [0, 1] as an 8-bit PNG."""
    array = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    Image.fromarray(array).save(path)


def _cell(value: Any) -> Any:
    """CSV cell: floats with 6 decimals (NaN for a hole metric of an empty mask)."""
    return f"{value:.6f}" if isinstance(value, float) else value


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


def evaluate(cfg: DictConfig, choices: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one evaluation; writes the outputs into ``cfg.out`` and returns metrics.json."""
    from inpaintgan.data import InpaintingDataset, ReportingDataLoader, collate

    choices = dict(choices or {})
    out = Path(cfg.out)
    inpainter = load_inpainter(cfg.get("ckpt"), cfg.get("model"), cfg.get("device"))
    mask = instantiate(cfg.mask)
    datamodule = instantiate(cfg.data, mask=mask, eval_mask=mask, seed=cfg.seed)
    split = cfg.get("split") or default_split(datamodule)
    dataset: InpaintingDataset | torch.utils.data.Subset = datamodule.dataset(split)
    dataset.substitute = False  # a broken file is skipped and listed, never replaced
    if cfg.get("max_images"):
        dataset = torch.utils.data.Subset(dataset, range(min(len(dataset), cfg.max_images)))
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
            image = batch["image"].to(inpainter.device)
            hole = batch["mask"].to(inpainter.device)
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
                    save_image(comp[i], image_dir / f"{stem}.png")
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
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    with (out / "per_image.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
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
    from inpaintgan.data import DataError, ImageLoadError

    try:
        summary = evaluate(cfg, HydraConfig.get().runtime.choices)
    except (UsageError, CheckpointError, DataError, ImageLoadError) as err:
        print(f"inpaintgan.evaluate: error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:  # out/ not writable: read-only, permission, disk full
        from inpaintgan.io import write_failure_cause

        where = err.filename or cfg.out
        cause = write_failure_cause(err, Path(cfg.out))
        print(f"inpaintgan.evaluate: error: cannot write {where}: {cause}", file=sys.stderr)
        sys.exit(1)
    print_summary(summary, cfg.out)


if __name__ == "__main__":
    main()
