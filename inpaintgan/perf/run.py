"""The bench's run: each configured part measured, one JSON-ready result."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from inpaintgan.builders import git_commit
from inpaintgan.data.bench import benchmark_loader
from inpaintgan.errors import UsageError
from inpaintgan.models import count_parameters
from inpaintgan.perf.flops import count_flops, measured_peak
from inpaintgan.perf.memory import OtherLoad, PeakMemory, loadavg
from inpaintgan.perf.peaks import fp32_tf32_flags, math_mode, mfu, spec_peak
from inpaintgan.perf.profile import profile_train_step
from inpaintgan.perf.steps import (
    Settings,
    bench_shift,
    build_parts,
    compile_parts,
    generator_step,
    resolve_settings,
    synthetic_batch,
    train_step,
)
from inpaintgan.perf.timing import Clock, measure

__all__ = ["PARTS", "run_bench"]

#: The parts ``parts=[...]`` may name.
PARTS = ("forward", "train_step", "generator_step", "shift", "data", "flops", "mfu")


def environment(settings: Settings) -> dict[str, Any]:
    """Device name, torch version, threads, CPU count, source commit and time of the run."""
    if settings.device.type == "cuda":
        name = torch.cuda.get_device_name(settings.device)
    else:
        name = platform.processor() or platform.machine()
        with contextlib.suppress(OSError):
            match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
            name = match.group(1).strip() if match else name
    return {
        "device_name": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def check_options(cfg: DictConfig) -> None:
    """The bench's numeric options, one UsageError line each naming key, value and rule."""
    from inpaintgan.config import real_number, whole_number

    whole_number(cfg.get("size"), "size")
    whole_number(cfg.get("batch_size"), "batch_size")
    whole_number(cfg.get("warmup"), "warmup", minimum=0)
    whole_number(cfg.get("repeats"), "repeats")
    whole_number(cfg.get("threads"), "threads", none=True)
    whole_number(cfg.get("seed", 0), "seed", minimum=0)
    fraction = real_number(cfg.get("mask_fraction"), "mask_fraction", positive=True)
    if fraction is not None and fraction >= 1:
        raise UsageError(f"mask_fraction={cfg.mask_fraction}: must be in (0, 1)")


def run_bench(cfg: DictConfig, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the configured parts and return the results (the JSON document)."""
    echo = echo or (lambda line: None)
    check_options(cfg)
    unknown = [p for p in cfg.parts if p not in PARTS]
    if unknown:
        raise UsageError(f"unknown parts {unknown}; choose from {list(PARTS)}")
    parts_wanted = set(cfg.parts)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    settings = resolve_settings(cfg)
    if settings.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    warmup, repeats = int(cfg.warmup), int(cfg.repeats)
    result: dict[str, Any] = {
        "config": {
            "model": cfg.model.get("name"),
            "size": int(cfg.size),
            "batch_size": int(cfg.batch_size),
            "device": str(settings.device),
            "precision": settings.precision,
            "channels_last": settings.channels_last,
            "compile": settings.compile,
            "warmup": warmup,
            "repeats": repeats,
            "mask_fraction": float(cfg.mask_fraction),
            "parts": list(cfg.parts),
        },
        "environment": environment(settings),
        "loadavg_start": loadavg(),
    }
    with OtherLoad() as whole_run:
        torch.manual_seed(int(cfg.seed))
        if "shift" in parts_wanted:
            result["shift"] = _bench_shift_sizes(cfg, settings, echo)
        model_parts = {"forward", "train_step", "generator_step", "flops"} & parts_wanted
        if model_parts or cfg.get("profile"):
            result.update(_bench_model(cfg, settings, parts_wanted, echo))
        if "mfu" in parts_wanted:
            _bench_peak(result, settings, echo)
        if "data" in parts_wanted:
            result["data"] = _bench_loader(cfg, echo)
        result["loadavg_end"] = loadavg()
    result["other_cores"] = whole_run.cores
    return result


def _bench_shift_sizes(
    cfg: DictConfig, settings: Settings, echo: Callable[[str], None]
) -> list[dict[str, Any]]:
    """The shift op alone at each of ``shift.sizes``."""
    entries = []
    for shift_size in cfg.shift.sizes:
        entry = bench_shift(
            int(shift_size),
            settings,
            batch=int(cfg.shift.batch_size),
            channels=int(cfg.shift.channels),
            hole_fraction=float(cfg.shift.hole_fraction),
            method=str(cfg.shift.get("method", "auto")),
            warmup=int(cfg.warmup),
            repeats=int(cfg.repeats),
            seed=int(cfg.seed),
        )
        entries.append(entry)
        echo(
            f"shift {shift_size}x{shift_size} ({entry['method']}): {entry['median_ms']:.1f} ms "
            f"(Shift-Net-style op: {entry['shiftnet_style_ms']:.1f} ms)"
        )
    return entries


def _bench_peak(result: dict[str, Any], settings: Settings, echo: Callable[[str], None]) -> None:
    """The peaks of the run's math mode (``result["peak"]``) and the MFU of every timed row.

    Two denominators, each in the row's own math mode (:func:`inpaintgan.perf.peaks.math_mode`):
    the spec-sheet dense peak of the detected GPU (``mfu_spec``, None with the reason where
    the device is not in the table) and a GEMM measured on the device (``mfu_measured``).
    """
    device_type = settings.device.type
    tf32 = fp32_tf32_flags() if device_type == "cuda" else None
    math = math_mode(settings.precision, device_type, tf32)
    measured = measured_peak(settings.device, math)
    spec = spec_peak(result["environment"]["device_name"], math, device_type)
    result["peak"] = {"math": math, "measured": measured, "spec": spec.as_dict()}
    if tf32 is not None and settings.precision == "32":
        result["peak"]["fp32_tf32"] = tf32
    for name in ("forward", "train_step", "generator_step"):
        entry = result.get(name, {})
        if entry.get("flops_per_image") and entry.get("images_per_s"):
            achieved = entry["flops_per_image"] * entry["images_per_s"]
            entry["achieved_flops_per_s"] = round(achieved)
            entry["mfu_measured"] = mfu(achieved, measured["flops_per_s"])
            entry["mfu_spec"] = mfu(achieved, spec.flops_per_s)
    spec_text = (
        f"spec {spec.gpu} {spec.flops_per_s / 1e12:.1f} TFLOP/s"
        if spec.flops_per_s
        else f"spec n/a ({spec.reason})"
    )
    echo(f"peak ({math}): measured {measured['flops_per_s'] / 1e9:.0f} GFLOP/s; {spec_text}")


def _bench_loader(cfg: DictConfig, echo: Callable[[str], None]) -> list[dict[str, Any]]:
    """Loader throughput (the ``loader`` section) at each size and worker count."""
    entries = []
    for loader_size in cfg.loader.sizes:
        for workers in cfg.loader.workers:
            entry = benchmark_loader(
                num_workers=int(workers),
                batch_size=int(cfg.loader.batch_size),
                size=int(loader_size),
                num_batches=int(cfg.loader.batches),
                warmup_batches=int(cfg.loader.warmup_batches),
                seed=int(cfg.seed),
            ).as_dict()
            entries.append(entry)
            echo(f"data {loader_size} workers={workers}: {entry['samples_per_s']} samples/s")
    return entries


def _bench_model(
    cfg: DictConfig, settings: Settings, wanted: set[str], echo: Callable[[str], None]
) -> dict[str, Any]:
    """forward / train_step / generator_step / flops / profile of the variant.

    FLOPs and the profile are taken on the eager networks first; with ``compile=true`` the
    networks are compiled afterwards, for the timings only.
    """
    warmup, repeats = int(cfg.warmup), int(cfg.repeats)
    batch_size = int(cfg.batch_size)
    parts = build_parts(cfg, settings)
    batch = synthetic_batch(
        batch_size, int(cfg.size), float(cfg.mask_fraction), settings, int(cfg.seed)
    )
    image, mask = batch["image"], batch["mask"]
    discriminator = parts.discriminator
    out: dict[str, Any] = {
        "parameters": {
            "generator": count_parameters(parts.generator),
            "discriminator": count_parameters(discriminator) if discriminator is not None else 0,
        }
    }
    steps = {"train_step": train_step, "generator_step": generator_step}
    flops: dict[str, int] = {}
    if "flops" in wanted:
        with torch.inference_mode(), settings.autocast():
            flops["forward"] = count_flops(lambda: parts.generator(image, mask)) // batch_size
        for name, step_fn in steps.items():
            if name in wanted:
                count = count_flops(lambda fn=step_fn: fn(parts, batch))
                flops[name] = count // batch_size
        out["forward"] = {"flops_per_image": flops["forward"]}
    if cfg.get("profile"):
        for _ in range(max(1, warmup)):
            train_step(parts, batch)
        out["profile"] = profile_train_step(parts, batch, int(cfg.profile_top))
        echo(f"profile: {out['profile']['step_ms']:.0f} ms step")
    if settings.compile:
        compile_parts(parts)

    if "forward" in wanted:
        parts.generator.eval()

        def forward(clock: Clock) -> None:
            with torch.inference_mode(), settings.autocast():
                parts.generator(image, mask)
            clock.mark("forward")

        with PeakMemory(settings.device) as memory, OtherLoad() as other:
            timing = measure(forward, settings.device, warmup, repeats)
        parts.generator.train()
        out["forward"] = {
            **timing.as_dict(batch_size),
            **memory.as_dict(),
            "other_cores": other.cores,
        }
        echo(f"forward: {out['forward']['ms_per_image']:.1f} ms/image")

    for name, step_fn in steps.items():
        if name not in wanted:
            continue
        scaler = settings.scaler()
        with PeakMemory(settings.device) as memory, OtherLoad() as other:
            timing = measure(
                lambda clock, fn=step_fn, sc=scaler: fn(parts, batch, clock, sc),
                settings.device,
                warmup,
                repeats,
            )
        entry = {**timing.as_dict(batch_size), **memory.as_dict(), "other_cores": other.cores}
        if name == "generator_step":
            phases = timing.phases_ms
            entry["without_adam_ms"] = round(timing.median_ms - phases.get("adam", 0.0), 3)
        out[name] = entry
        echo(f"{name}: {entry['ms_per_image']:.1f} ms/image")

    for name, count in flops.items():
        out.setdefault(name, {})["flops_per_image"] = count
    return out
