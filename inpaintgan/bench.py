"""`python -m inpaintgan.bench [overrides]`: speed, memory and FLOPs of one configured variant.

Measures, for the variant built from ``conf/bench.yaml`` (``model=paper|shiftnet|ce``) at a
chosen image size, batch size, device and precision:

* ``forward``: generator inference (eval mode, ``inference_mode``), ms per image;
* ``train_step``: one full GAN step as :meth:`InpaintingModule.training_step` runs it (D step
  on real vs the detached composite, then the G step with every loss term of the variant,
  VGG16 style loss included, gradient norms and Adam), ms per image and images/s;
* ``generator_step``: Shift-Net's reference step: the ground-truth pass for the guidance
  target, the masked forward, L1 + guidance backward, then Adam (reported apart);
* ``shift``: :func:`inpaintgan.models.shift.shift_known_to_hole` alone;
* ``data``: loader throughput through :func:`inpaintgan.data.bench.benchmark_loader`;
* ``flops``: FLOPs per image (``torch.utils.flop_counter``) of the forward and the steps;
* ``mfu``: the measured peak of the device and the model FLOP utilisation of the training
  step (on CUDA against the bf16 matmul rate; on the CPU against the faster of a large
  matmul and a large 3×3 convolution in the run's compute dtype).

Every timing is ``warmup`` untimed runs then the median of ``repeats`` runs, timed with CUDA
events on a GPU and ``perf_counter`` on the CPU. Peak memory is the CUDA allocator's maximum
on a GPU and the process's peak RSS (reset before each part) on the CPU. The inputs are
random images with the centre hole (``mask_fraction``). Results: a table on stdout and JSON
in ``out``. See docs/performance.md.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from inpaintgan.config import CONFIG_DIR

__all__ = [
    "PARTS",
    "Clock",
    "PeakMemory",
    "Timing",
    "bench_shift",
    "build_parts",
    "compile_parts",
    "centre_mask",
    "count_flops",
    "format_table",
    "generator_step",
    "conv_peak_flops",
    "matmul_peak_flops",
    "measure",
    "resolve_settings",
    "run_bench",
    "train_step",
]

#: The parts ``parts=[...]`` may name.
PARTS = ("forward", "train_step", "generator_step", "shift", "data", "flops", "mfu")

_PRECISIONS = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """The resolved run options (``auto`` replaced by what it means on the device)."""

    device: torch.device
    precision: str
    autocast_dtype: torch.dtype | None
    channels_last: bool
    compile: bool

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to the run's dtype, or nothing for precision 32."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.autocast_dtype or torch.float32


def resolve_settings(cfg: DictConfig) -> Settings:
    """Device, precision and memory format from the config's ``auto`` defaults."""
    name = str(cfg.device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device=cuda but torch sees no CUDA device (use device=cpu)")
    device = torch.device(name)
    precision = str(cfg.precision)
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "32"
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be auto, 32, bf16 or 16, got {cfg.precision!r}")
    channels_last = cfg.channels_last
    if channels_last == "auto":
        channels_last = device.type == "cuda"
    return Settings(
        device, precision, _PRECISIONS[precision], bool(channels_last), bool(cfg.compile)
    )


# ----------------------------------------------------------------------------- timing
class Clock:
    """Phase boundaries of one run: CUDA events on a GPU, ``perf_counter`` on the CPU.

    ``mark()`` starts the run, ``mark(name)`` ends phase ``name``; :meth:`phases_ms`
    synchronises once and returns the duration of every phase.
    """

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list[tuple[str | None, Any]] = []

    def mark(self, name: str | None = None) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append((name, event))
        else:
            self.marks.append((name, time.perf_counter()))

    def phases_ms(self) -> dict[str, float]:
        if self.cuda:
            torch.cuda.synchronize()
        phases: dict[str, float] = {}
        for (_, start), (name, end) in zip(self.marks, self.marks[1:], strict=False):
            ms = start.elapsed_time(end) if self.cuda else (end - start) * 1e3
            phases[name or f"phase{len(phases)}"] = phases.get(name or "", 0.0) + ms
        return phases


@dataclass
class Timing:
    """Median and all runs of one measurement (ms per run; phases: median per phase)."""

    median_ms: float
    times_ms: list[float]
    phases_ms: dict[str, float]

    def as_dict(self, batch_size: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "median_ms": round(self.median_ms, 3),
            "times_ms": [round(t, 3) for t in self.times_ms],
        }
        if len(self.phases_ms) > 1:
            out["phases_ms"] = {k: round(v, 3) for k, v in self.phases_ms.items()}
        if batch_size:
            out["ms_per_image"] = round(self.median_ms / batch_size, 3)
            out["images_per_s"] = round(1e3 * batch_size / self.median_ms, 3)
        return out


def measure(
    step: Callable[[Clock], None], device: torch.device, warmup: int, repeats: int
) -> Timing:
    """Run ``step(clock)`` ``warmup`` times untimed, then ``repeats`` times timed.

    ``step`` calls ``clock.mark(name)`` after each of its phases; the run's time is the sum
    of its phases and the result holds the median run and the median of every phase.
    """
    for _ in range(warmup):
        clock = Clock(device)
        clock.mark()
        step(clock)
        clock.phases_ms()
    runs = []
    for _ in range(max(1, repeats)):
        clock = Clock(device)
        clock.mark()
        step(clock)
        runs.append(clock.phases_ms())
    totals = [sum(run.values()) for run in runs]
    phases = {name: statistics.median(run.get(name, 0.0) for run in runs) for name in runs[0]}
    return Timing(statistics.median(totals), totals, phases)


# ----------------------------------------------------------------------------- memory
def _proc_status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux ``clear_refs`` 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_bytes() -> int:
    kib = _proc_status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _rss_bytes() -> int:
    kib = _proc_status_kib("VmRSS")
    return kib * 1024 if kib is not None else _peak_rss_bytes()


class PeakMemory:
    """Peak memory of the code inside ``with``: CUDA max allocated, or the CPU's peak RSS.

    ``peak_bytes`` is the peak inside the block (on the CPU the whole process's resident
    memory, libraries and weights included), ``extra_bytes`` the part above the level when
    the block started. On the CPU the peak is reset through ``/proc/self/clear_refs``; where
    that is not possible (not Linux) it is the process's peak so far (``reset`` False).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_peak_rss"
        self.base_bytes = self.peak_bytes = 0
        self.reset = True

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base_bytes = torch.cuda.memory_allocated(self.device)
        else:
            self.base_bytes = _rss_bytes()
            self.reset = _reset_peak_rss()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self.peak_bytes = _peak_rss_bytes()

    @property
    def extra_bytes(self) -> int:
        return max(0, self.peak_bytes - self.base_bytes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "peak_memory_bytes": self.peak_bytes,
            "extra_memory_bytes": self.extra_bytes,
            "memory_kind": self.kind,
        }


def _cpu_busy_seconds() -> float | None:
    """Busy CPU seconds of the whole machine so far (all cores, Linux ``/proc/stat``)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """CPU used by *other* processes while the block ran, in cores (Linux only, else None).

    Machine-wide busy time (``/proc/stat``, hypervisor steal included) minus this process's
    CPU time, divided by the wall time. A value near 0 means the numbers were taken on an
    otherwise idle machine; data-loader worker processes count as "other".
    """

    def __enter__(self) -> OtherLoad:
        self.cores: float | None = None
        self._start = (time.perf_counter(), time.process_time(), _cpu_busy_seconds())
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, own0, busy0 = self._start
        busy1 = _cpu_busy_seconds()
        wall = time.perf_counter() - wall0
        if busy0 is None or busy1 is None or wall <= 0:
            return
        other = (busy1 - busy0) - (time.process_time() - own0)
        self.cores = round(max(0.0, other) / wall, 2)


def cpu_allocated_peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes of CPU tensors allocated by ``fn()`` and alive at once (profiler memory).

    The CPU counterpart of CUDA's max allocated: what the tensors need, without the
    allocator's cached or fragmented pages that peak RSS also counts.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    changes = []
    for event in prof.events():
        delta = event.self_cpu_memory_usage
        if delta:
            at = event.time_range.start if delta > 0 else event.time_range.end
            changes.append((at, delta))
    live = peak = 0
    for _, delta in sorted(changes):
        live += delta
        peak = max(peak, live)
    return int(peak)


# ------------------------------------------------------------------------------ flops
def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of ``fn()`` (convolutions and matmuls, forward and backward; a MAC is 2)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def matmul_peak_flops(
    device: torch.device, dtype: torch.dtype, n: int | None = None, iters: int | None = None
) -> float:
    """Measured matmul rate (FLOP/s) of ``n×n @ n×n`` in ``dtype``: the MFU denominator.

    Defaults: 8192² × 50 on CUDA (a large bf16 GEMM, the tensor cores' practical peak),
    1024² × 10 on the CPU.
    """
    cuda = device.type == "cuda"
    n = n or (8192 if cuda else 1024)
    iters = iters or (50 if cuda else 10)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.mm(a, b, out=out)
    clock = Clock(device)
    clock.mark()
    for _ in range(iters):
        torch.mm(a, b, out=out)
    clock.mark("matmul")
    seconds = clock.phases_ms()["matmul"] / 1e3
    return 2.0 * n**3 * iters / seconds


def conv_peak_flops(device: torch.device, dtype: torch.dtype, iters: int = 5) -> float:
    """Measured rate (FLOP/s) of a large 3×3 convolution (256→256 channels, 64×64, batch 8).

    On the CPU oneDNN's convolutions can run faster than the BLAS matmul (MKL's fp32 GEMM
    on AMD Zen 4 is well below oneDNN's AVX-512 kernels), so the MFU denominator there is
    the larger of the two rates.
    """
    conv = nn.Conv2d(256, 256, 3, padding=1, bias=False).to(device=device, dtype=dtype)
    x = torch.randn(8, 256, 64, 64, device=device, dtype=dtype)
    with torch.no_grad():
        for _ in range(2):
            conv(x)
        clock = Clock(device)
        clock.mark()
        for _ in range(iters):
            conv(x)
        clock.mark("conv")
    flops = 2.0 * 8 * 256 * 256 * 9 * 64 * 64 * iters
    return flops / (clock.phases_ms()["conv"] / 1e3)


# ------------------------------------------------------------------------------ model
@dataclass
class Parts:
    """The variant's :class:`InpaintingModule`, built as ``inpaintgan.train`` builds it, with
    its optimisers (the steps below call the module's own loss methods)."""

    module: Any  # InpaintingModule
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    settings: Settings

    @property
    def generator(self) -> nn.Module:
        return self.module.generator

    @property
    def discriminator(self) -> nn.Module | None:
        return self.module.discriminator

    @property
    def loss(self) -> nn.Module:
        return self.module.loss


def build_parts(cfg: DictConfig, settings: Settings) -> Parts:
    """Build the configured variant through :func:`inpaintgan.train.build_module` (eager;
    :func:`compile_parts` compiles it)."""
    from inpaintgan.train import build_module

    cfg = cfg.copy()
    with open_dict(cfg):
        if cfg.get("vgg_weights") and cfg.loss.get("style_features") is not None:
            cfg.loss.style_features.weights = cfg.vgg_weights
    module = build_module(cfg, {}).to(settings.device)
    module.channels_last = settings.channels_last
    module.apply_memory_format(settings.device)  # as InpaintingModule.setup does in training
    optimizers = module.configure_optimizers()
    if isinstance(optimizers, tuple):  # (optimizers, schedulers)
        optimizers = optimizers[0]
    return Parts(
        module=module,
        opt_g=optimizers[0],
        opt_d=optimizers[1] if len(optimizers) > 1 else None,
        settings=settings,
    )


def compile_parts(parts: Parts) -> None:
    """``torch.compile`` the generator and the discriminator in place, as training's
    ``compile=true`` does (:meth:`InpaintingModule.compile_networks`)."""
    parts.module.compile_networks()


def centre_mask(batch: int, size: int, fraction: float, device: torch.device) -> Tensor:
    """``[B, 1, S, S]`` float, 1 on the centred square of side ``round(S * fraction)``."""
    mask = torch.zeros(batch, 1, size, size, device=device)
    side = round(size * fraction)
    top = (size - side) // 2
    mask[..., top : top + side, top : top + side] = 1.0
    return mask


def synthetic_batch(
    batch: int, size: int, fraction: float, settings: Settings, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Random images in [0, 1] and the centre mask, on the device, laid out as the data
    loader delivers them (NCHW; channels_last is a property of the weights, as in training)."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, size, size, generator=gen).to(settings.device)
    return image, centre_mask(batch, size, fraction, settings.device)


@contextlib.contextmanager
def _frozen(network: nn.Module | None) -> Iterator[None]:
    """``requires_grad=False`` on ``network`` inside the block (Lightning's toggle_optimizer)."""
    params = [p for p in network.parameters() if p.requires_grad] if network is not None else []
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _optimiser_step(
    parts: Parts, optimizer: torch.optim.Optimizer, total: Tensor, network: nn.Module, scaler: Any
) -> None:
    """``InpaintingModule._guarded_step`` without a Trainer: zero, finite check, backward,
    gradient norm (clipped as configured), step."""
    optimizer.zero_grad(set_to_none=True)
    if not bool(torch.isfinite(total.detach()).item()):
        return
    scaler.scale(total).backward()
    scaler.unscale_(optimizer)
    max_norm = parts.module.grad_clip or math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(network.parameters(), max_norm)
    if bool(torch.isfinite(grad_norm).item()):
        scaler.step(optimizer)
        scaler.update()


def train_step(
    parts: Parts, image: Tensor, mask: Tensor, clock: Clock | None = None, scaler: Any = None
) -> None:
    """One training batch as :meth:`InpaintingModule.training_step` runs it, through the
    module's own ``discriminator_terms`` / ``generator_terms``.

    G forward and composite; D step on real vs the detached composite (if the variant has a
    D); then, with D frozen (Lightning's ``toggle_optimizer``), the guidance target, D on the
    composite, every loss term of the variant (VGG16 style loss included), backward, the
    gradient norm and Adam. Phases are marked on ``clock``.
    """
    from inpaintgan.metrics import composite

    module = parts.module
    mark = clock.mark if clock is not None else (lambda name=None: None)
    scaler = scaler or _scaler(parts.settings)
    with parts.settings.autocast():
        gen = module.generator(image, mask)
        comp = composite(gen.image, image, mask)
        mark("G forward")
        if module.uses_discriminator:
            with _frozen(module.generator):
                d_terms, _, _ = module.discriminator_terms(image, comp.detach(), mask)
                _optimiser_step(parts, parts.opt_d, d_terms["total"], module.discriminator, scaler)
            mark("D step")
        with _frozen(module.discriminator):
            terms = module.generator_terms(image, mask, gen, comp)
            mark("G losses forward")
            _optimiser_step(parts, parts.opt_g, terms["total"], module.generator, scaler)
            mark("G backward + Adam")


def generator_step(
    parts: Parts, image: Tensor, mask: Tensor, clock: Clock | None = None, scaler: Any = None
) -> None:
    """Shift-Net's reference step: GT pass, masked forward, L1 + guidance backward, Adam.

    Phases: ``guidance target`` (``generator.guidance_target``: the encoder up to the shift
    level on the ground truth, under no_grad), ``forward`` (generator + losses),
    ``backward``, ``adam``. The variant's reconstruction and guidance weights are used; no
    discriminator and no style loss.
    """
    from inpaintgan.losses import guidance_loss, reconstruction_loss

    settings = parts.settings
    mark = clock.mark if clock is not None else (lambda name=None: None)
    scaler = scaler or _scaler(settings)
    loss = parts.loss
    with settings.autocast():
        use_guidance = loss.guidance_weight > 0
        target = parts.generator.guidance_target(image, mask) if use_guidance else None
        mark("guidance target")
        gen = parts.generator(image, mask)
        total = loss.rec_weight * reconstruction_loss(gen.image, image, loss.reconstruction)
        if target is not None and gen.guidance_feature is not None:
            guidance = guidance_loss(gen.guidance_feature, target, gen.guidance_hole)
            total = total + loss.guidance_weight * guidance
        mark("forward")
        parts.opt_g.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        mark("backward")
        scaler.step(parts.opt_g)
        scaler.update()
        mark("adam")


def _scaler(settings: Settings) -> Any:
    """A GradScaler for float16 autocast (as Lightning's 16-mixed), a no-op otherwise."""
    enabled = settings.autocast_dtype == torch.float16
    return torch.amp.GradScaler(settings.device.type, enabled=enabled)


# ------------------------------------------------------------------------------ shift
def bench_shift(
    size: int,
    settings: Settings,
    batch: int = 4,
    channels: int = 256,
    hole_fraction: float = 0.25,
    warmup: int = 2,
    repeats: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Time and peak memory of ``shift_known_to_hole`` on a ``size``² map, centred hole."""
    from inpaintgan.models.shift import shift_known_to_hole

    gen = torch.Generator().manual_seed(seed)
    decoder = torch.randn(batch, channels, size, size, generator=gen).to(settings.device)
    encoder = torch.randn(batch, channels, size, size, generator=gen).to(settings.device)
    hole = centre_mask(batch, size, math.sqrt(hole_fraction), settings.device).bool()
    if settings.autocast_dtype is not None:
        decoder, encoder = decoder.to(settings.autocast_dtype), encoder.to(settings.autocast_dtype)

    def step(clock: Clock) -> None:
        with torch.no_grad():
            shift_known_to_hole(decoder, encoder, hole)
        clock.mark("shift")

    with PeakMemory(settings.device) as memory, OtherLoad() as other:
        timing = measure(step, settings.device, warmup, repeats)
    entry = {
        "size": size,
        "batch_size": batch,
        "channels": channels,
        "hole_positions": int(hole[0].sum()),
        "dtype": str(decoder.dtype).removeprefix("torch."),
        **timing.as_dict(),
        **memory.as_dict(),
        "other_cores": other.cores,
    }
    if settings.device.type == "cpu":
        entry["allocated_peak_bytes"] = cpu_allocated_peak_bytes(
            lambda: step(Clock(settings.device))
        )
    return entry


# ---------------------------------------------------------------------------- profile
_PROFILE_GROUPS = {
    "G encoder convs": lambda p: list(p.generator.down) if hasattr(p.generator, "down") else [],
    "G SE blocks": lambda p: list(p.generator.se.values()) if hasattr(p.generator, "se") else [],
    "G shift": lambda p: [p.generator.shift] if getattr(p.generator, "shift", None) else [],
    "G decoder convs": lambda p: list(p.generator.up) if hasattr(p.generator, "up") else [],
    "D": lambda p: [p.discriminator] if p.discriminator is not None else [],
    "VGG16 (style)": lambda p: [p.loss.style_features] if p.loss.style_features else [],
}
_RANGE_PREFIX = "bench::"


@contextlib.contextmanager
def _annotate_modules(parts: Parts) -> Iterator[None]:
    """Wrap the forward of every network part in a profiler range named after its group."""
    handles = []

    def add(module: nn.Module, name: str) -> None:
        ranges: list[Any] = []

        def pre(*_: Any) -> None:
            ranges.append(torch.profiler.record_function(_RANGE_PREFIX + name))
            ranges[-1].__enter__()

        def post(*_: Any) -> None:
            ranges.pop().__exit__(None, None, None)

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))

    for group, modules in _PROFILE_GROUPS.items():
        for module in modules(parts):
            add(module, group)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def profile_train_step(parts: Parts, image: Tensor, mask: Tensor, top: int = 15) -> dict:
    """One profiled training step: time per network part (forward and backward) and top ops.

    A backward op is charged to the part whose forward created its autograd node (matched by
    sequence number). Group times are CPU times, meaningful on the CPU only; on CUDA use the
    operator table (sorted by device time).
    """
    from torch.profiler import ProfilerActivity, profile

    cuda = parts.settings.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with _annotate_modules(parts), profile(activities=activities) as prof:
        start = time.perf_counter()
        train_step(parts, image, mask)
        if cuda:
            torch.cuda.synchronize()
        step_ms = (time.perf_counter() - start) * 1e3
    events = prof.events()
    forward_ms: dict[str, float] = defaultdict(float)
    backward_ms: dict[str, float] = defaultdict(float)
    seq_group: dict[int, str] = {}
    for event in events:
        if event.name.startswith(_RANGE_PREFIX):
            if not _has_ancestor(event, _RANGE_PREFIX):
                forward_ms[event.name.removeprefix(_RANGE_PREFIX)] += event.cpu_time_total / 1e3
        elif event.sequence_nr >= 0 and not event.name.startswith("autograd::"):
            group = _ancestor_group(event)
            if group is not None:
                seq_group.setdefault(event.sequence_nr, group)
    for event in events:
        if event.name.startswith("autograd::engine::evaluate_function:") and (
            event.sequence_nr in seq_group
        ):
            backward_ms[seq_group[event.sequence_nr]] += event.cpu_time_total / 1e3
        elif event.name.startswith("Optimizer.step#"):
            forward_ms["optimiser steps"] += event.cpu_time_total / 1e3
    groups = {
        name: {
            "forward_ms": round(forward_ms.get(name, 0.0), 1),
            "backward_ms": round(backward_ms.get(name, 0.0), 1),
        }
        for name in [*_PROFILE_GROUPS, "optimiser steps"]
        if name in forward_ms or name in backward_ms
    }
    accounted = sum(g["forward_ms"] + g["backward_ms"] for g in groups.values())
    groups["other (losses, Gram, norms, glue)"] = {
        "forward_ms": round(max(0.0, step_ms - accounted), 1),
        "backward_ms": 0.0,
    }
    sort_by = "self_device_time_total" if cuda else "self_cpu_time_total"
    averages = prof.key_averages()
    ops = sorted(averages, key=lambda e: getattr(e, sort_by, 0), reverse=True)
    ops = [op for op in ops if not op.key.startswith(_RANGE_PREFIX)][:top]
    return {
        "step_ms": round(step_ms, 1),
        "groups": groups,
        "group_times": "cpu" if not cuda else "cpu (host side only)",
        "top_ops": [
            {
                "name": op.key,
                "calls": op.count,
                "self_cpu_ms": round(op.self_cpu_time_total / 1e3, 2),
                **(
                    {"self_cuda_ms": round(getattr(op, "self_device_time_total", 0) / 1e3, 2)}
                    if cuda
                    else {}
                ),
            }
            for op in ops
        ],
    }


def _ancestor_group(event: Any) -> str | None:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith(_RANGE_PREFIX):
            return parent.name.removeprefix(_RANGE_PREFIX)
        parent = parent.cpu_parent
    return None


def _has_ancestor(event: Any, prefix: str) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith(prefix):
            return True
        parent = parent.cpu_parent
    return False


# -------------------------------------------------------------------------------- run
def _environment(settings: Settings) -> dict[str, Any]:
    if settings.device.type == "cuda":
        name = torch.cuda.get_device_name(settings.device)
    else:
        name = platform.processor() or platform.machine()
        with contextlib.suppress(OSError):
            match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
            name = match.group(1).strip() if match else name
    from inpaintgan.train import git_commit

    return {
        "device_name": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def run_bench(cfg: DictConfig, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the configured parts and return the results (the JSON document)."""
    echo = echo or (lambda line: None)
    unknown = [p for p in cfg.parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown parts {unknown}; choose from {list(PARTS)}")
    parts_wanted = set(cfg.parts)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    settings = resolve_settings(cfg)
    if settings.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    warmup, repeats = int(cfg.warmup), int(cfg.repeats)
    batch, size = int(cfg.batch_size), int(cfg.size)
    result: dict[str, Any] = {
        "config": {
            "model": cfg.model.get("name"),
            "size": size,
            "batch_size": batch,
            "device": str(settings.device),
            "precision": settings.precision,
            "channels_last": settings.channels_last,
            "compile": settings.compile,
            "warmup": warmup,
            "repeats": repeats,
            "mask_fraction": float(cfg.mask_fraction),
            "parts": list(cfg.parts),
        },
        "environment": _environment(settings),
        "loadavg_start": _loadavg(),
    }
    whole_run = OtherLoad().__enter__()
    torch.manual_seed(int(cfg.seed))

    if "shift" in parts_wanted:
        result["shift"] = []
        for shift_size in cfg.shift.sizes:
            entry = bench_shift(
                int(shift_size),
                settings,
                batch=int(cfg.shift.batch_size),
                channels=int(cfg.shift.channels),
                hole_fraction=float(cfg.shift.hole_fraction),
                warmup=warmup,
                repeats=repeats,
                seed=int(cfg.seed),
            )
            result["shift"].append(entry)
            echo(f"shift {shift_size}x{shift_size}: {entry['median_ms']:.1f} ms")

    model_parts = {"forward", "train_step", "generator_step", "flops"} & parts_wanted
    if model_parts or cfg.get("profile"):
        result.update(_bench_model(cfg, settings, parts_wanted, echo))

    if "mfu" in parts_wanted:
        cuda = settings.device.type == "cuda"
        peak_dtype = torch.bfloat16 if cuda else settings.compute_dtype
        matmul = matmul_peak_flops(settings.device, peak_dtype)
        # CUDA: the bf16 GEMM rate (tensor cores). CPU: the faster of GEMM and convolution.
        conv = None if cuda else conv_peak_flops(settings.device, peak_dtype)
        peak = max(matmul, conv or 0.0)
        result["peak"] = {
            "dtype": str(peak_dtype).removeprefix("torch."),
            "matmul_flops_per_s": round(matmul),
            "conv_flops_per_s": round(conv) if conv is not None else None,
            "flops_per_s": round(peak),
        }
        step = result.get("train_step", {})
        if step.get("flops_per_image") and step.get("images_per_s"):
            achieved = step["flops_per_image"] * step["images_per_s"]
            step["achieved_flops_per_s"] = round(achieved)
            step["mfu"] = round(achieved / peak, 4)
        echo(f"peak ({result['peak']['dtype']}): {peak / 1e9:.0f} GFLOP/s")

    if "data" in parts_wanted:
        from inpaintgan.data.bench import benchmark_loader

        result["data"] = []
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
                result["data"].append(entry)
                echo(f"data {loader_size} workers={workers}: {entry['samples_per_s']} samples/s")

    result["loadavg_end"] = _loadavg()
    whole_run.__exit__(None, None, None)
    result["other_cores"] = whole_run.cores
    return result


def _bench_model(
    cfg: DictConfig, settings: Settings, wanted: set[str], echo: Callable[[str], None]
) -> dict[str, Any]:
    """forward / train_step / generator_step / flops / profile of the variant.

    FLOPs and the profile are taken on the eager networks first; with ``compile=true`` the
    networks are compiled afterwards, for the timings only.
    """
    from inpaintgan.models import count_parameters

    warmup, repeats = int(cfg.warmup), int(cfg.repeats)
    batch, size = int(cfg.batch_size), int(cfg.size)
    parts = build_parts(cfg, settings)
    image, mask = synthetic_batch(batch, size, float(cfg.mask_fraction), settings, int(cfg.seed))
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
            flops["forward"] = count_flops(lambda: parts.generator(image, mask)) // batch
        for name, step_fn in steps.items():
            if name in wanted:
                count = count_flops(lambda fn=step_fn: fn(parts, image, mask))
                flops[name] = count // batch
        out["forward"] = {"flops_per_image": flops["forward"]}
    if cfg.get("profile"):
        for _ in range(max(1, warmup)):
            train_step(parts, image, mask)
        out["profile"] = profile_train_step(parts, image, mask, int(cfg.profile_top))
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
        out["forward"] = {**timing.as_dict(batch), **memory.as_dict(), "other_cores": other.cores}
        echo(f"forward: {out['forward']['ms_per_image']:.1f} ms/image")

    for name, step_fn in steps.items():
        if name not in wanted:
            continue
        scaler = _scaler(settings)
        with PeakMemory(settings.device) as memory, OtherLoad() as other:
            timing = measure(
                lambda clock, fn=step_fn, sc=scaler: fn(parts, image, mask, clock, sc),
                settings.device,
                warmup,
                repeats,
            )
        entry = {**timing.as_dict(batch), **memory.as_dict(), "other_cores": other.cores}
        if name == "generator_step":
            phases = timing.phases_ms
            entry["without_adam_ms"] = round(timing.median_ms - phases.get("adam", 0.0), 3)
        out[name] = entry
        echo(f"{name}: {entry['ms_per_image']:.1f} ms/image")

    for name, count in flops.items():
        out.setdefault(name, {})["flops_per_image"] = count
    return out


# ------------------------------------------------------------------------------ table
def _fmt(value: Any, spec: str, scale: float = 1.0) -> str:
    """``value / scale`` formatted with ``spec``, or a right-aligned ``-`` when missing."""
    if value is None:
        return "-".rjust(int(re.match(r"\d*", spec).group() or 0))
    return format(value / scale, spec)


def format_table(result: dict[str, Any]) -> str:
    """The human-readable summary of a :func:`run_bench` result."""
    c, env = result["config"], result["environment"]
    lines = [
        f"inpaintgan bench: model={c['model']} size={c['size']} batch_size={c['batch_size']} "
        f"device={c['device']} ({env['device_name']}, {env['threads']} threads) "
        f"precision={c['precision']} channels_last={c['channels_last']} compile={c['compile']}",
        f"load average: start {result.get('loadavg_start')}, end {result.get('loadavg_end')}; "
        f"median of {c['repeats']} runs after {c['warmup']} warm-up; 'other': cores used by "
        "other processes meanwhile",
    ]
    header = (
        f"{'part':<28}{'ms/image':>10}{'ms/batch':>11}{'images/s':>10}"
        f"{'peak MiB':>10}{'GFLOP/img':>11}{'MFU':>8}{'other':>7}"
    )
    lines += [header, "-" * len(header)]
    for name in ("forward", "train_step", "generator_step"):
        entry = result.get(name)
        if not entry or "median_ms" not in entry:
            continue
        lines.append(
            f"{name:<28}{_fmt(entry.get('ms_per_image'), '10.1f')}"
            f"{_fmt(entry.get('median_ms'), '11.1f')}{_fmt(entry.get('images_per_s'), '10.2f')}"
            f"{_fmt(entry.get('peak_memory_bytes'), '10.0f', 2**20)}"
            f"{_fmt(entry.get('flops_per_image'), '11.2f', 1e9)}"
            f"{_fmt(entry.get('mfu'), '8.1%')}{_fmt(entry.get('other_cores'), '7.2f')}"
        )
        for phase, ms in entry.get("phases_ms", {}).items():
            lines.append(f"  {phase:<26}{'':>10}{ms:11.1f}")
    for entry in result.get("shift", []):
        label = f"shift {entry['size']}x{entry['size']} b{entry['batch_size']} c{entry['channels']}"
        allocated = entry.get("allocated_peak_bytes")
        detail = f"tensors {allocated / 2**20:.0f} MiB, " if allocated is not None else ""
        detail += f"+{entry['extra_memory_bytes'] / 2**20:.0f} MiB over the start"
        peak_mib = entry["peak_memory_bytes"] / 2**20
        lines.append(
            f"{label:<28}{'':>10}{entry['median_ms']:11.1f}{'':>10}{peak_mib:10.0f}{'':>19}"
            f"{_fmt(entry.get('other_cores'), '7.2f')}  ({detail})"
        )
    if "peak" in result:
        peak = result["peak"]
        conv = peak.get("conv_flops_per_s")
        detail = f", 3x3 conv {conv / 1e9:.1f}" if conv else ""
        lines.append(
            f"peak ({peak['dtype']}): {peak['flops_per_s'] / 1e9:.1f} GFLOP/s "
            f"(matmul {peak['matmul_flops_per_s'] / 1e9:.1f}{detail}): the MFU denominator"
        )
    for entry in result.get("data", []):
        lines.append(
            f"data loader size={entry['size']} workers={entry['num_workers']} "
            f"batch={entry['batch_size']}: {entry['samples_per_s']:.1f} samples/s "
            f"(start-up {entry['startup_s']:.2f} s)"
        )
    if "profile" in result:
        prof = result["profile"]
        lines.append(f"profile of one train step ({prof['step_ms']:.0f} ms, CPU times):")
        lines.append(f"  {'network part':<36}{'forward ms':>12}{'backward ms':>13}")
        for group, times in prof["groups"].items():
            lines.append(f"  {group:<36}{times['forward_ms']:12.1f}{times['backward_ms']:13.1f}")
        lines.append(f"  {'top operators':<52}{'calls':>7}{'self ms':>10}")
        for op in prof["top_ops"]:
            device_ms = f"{op['self_cuda_ms']:10.1f}" if "self_cuda_ms" in op else ""
            lines.append(
                f"  {op['name'][:52]:<52}{op['calls']:7d}{op['self_cpu_ms']:10.1f}{device_ms}"
            )
    return "\n".join(lines)


# -------------------------------------------------------------------------------- CLI
@hydra.main(config_path=CONFIG_DIR, config_name="bench", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Console entry point (`python -m inpaintgan.bench`)."""
    from inpaintgan.train import UserError

    try:
        result = run_bench(cfg, echo=lambda line: print(line, file=sys.stderr, flush=True))
    except (UserError, ValueError) as err:
        print(f"inpaintgan.bench: error: {err}", file=sys.stderr)
        sys.exit(2)
    result["command"] = " ".join(["python -m inpaintgan.bench", *HydraConfig.get().overrides.task])
    print(format_table(result))
    if cfg.get("out"):
        path = Path(cfg.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
