"""What the bench runs: the run's settings, the variant built as training builds it, a
synthetic batch, and the timed steps (the module's own :meth:`~InpaintingModule.gan_step`,
Shift-Net's generator step, the shift op alone)."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig, open_dict
from torch import Tensor, nn

from inpaintgan.builders import build_module
from inpaintgan.errors import UsageError
from inpaintgan.losses import guidance_loss, reconstruction_loss
from inpaintgan.models.shift import resolve_shift_method, shift_known_to_hole
from inpaintgan.module import InpaintingModule
from inpaintgan.perf.memory import OtherLoad, PeakMemory, cpu_allocated_peak_bytes
from inpaintgan.perf.reference import shiftnet_style_shift
from inpaintgan.perf.timing import Clock, measure
from inpaintgan.speed import channels_last_for

__all__ = [
    "Parts",
    "Settings",
    "bench_shift",
    "build_parts",
    "centre_mask",
    "compile_parts",
    "generator_step",
    "resolve_settings",
    "synthetic_batch",
    "train_step",
]

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
        """The dtype the convolutions run in."""
        return self.autocast_dtype or torch.float32

    def scaler(self) -> torch.amp.GradScaler:
        """A GradScaler for float16 autocast (as Lightning's 16-mixed), a no-op otherwise."""
        enabled = self.autocast_dtype == torch.float16
        return torch.amp.GradScaler(self.device.type, enabled=enabled)


def resolve_settings(cfg: DictConfig) -> Settings:
    """Device, precision and memory format from the config's ``auto`` defaults (the memory
    format by training's rule, :func:`inpaintgan.module.channels_last_for`)."""
    name = str(cfg.device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("device=cuda but torch sees no CUDA device (use device=cpu)")
    device = torch.device(name)
    precision = str(cfg.precision)
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "32"
    if precision not in _PRECISIONS:
        raise UsageError(f"precision must be auto, 32, bf16 or 16, got {cfg.precision!r}")
    channels_last = channels_last_for(cfg.channels_last, device)
    return Settings(device, precision, _PRECISIONS[precision], channels_last, bool(cfg.compile))


# ------------------------------------------------------------------------------ model
@dataclass
class Parts:
    """The variant's :class:`InpaintingModule`, built as ``inpaintgan.train`` builds it, with
    its optimisers (the steps below call the module's own methods)."""

    module: InpaintingModule
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer | None
    settings: Settings

    @property
    def generator(self) -> nn.Module:
        """The generator."""
        return self.module.generator

    @property
    def discriminator(self) -> nn.Module | None:
        """The discriminator (None for a variant without one)."""
        return self.module.discriminator

    @property
    def loss(self) -> nn.Module:
        """The variant's :class:`~inpaintgan.losses.InpaintingLoss`."""
        return self.module.loss


def build_parts(cfg: DictConfig, settings: Settings) -> Parts:
    """Build the configured variant through :func:`inpaintgan.builders.build_module` (eager;
    :func:`compile_parts` compiles it), in the memory format training would use."""
    cfg = cfg.copy()
    with open_dict(cfg):
        if cfg.get("vgg_weights") and cfg.loss.get("style_features") is not None:
            cfg.loss.style_features.weights = cfg.vgg_weights
    module = build_module(cfg, {}).to(settings.device)
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
) -> dict[str, Any]:
    """A batch dict of random images in [0, 1] and the centre mask, on the device, laid out
    as the data loader delivers them (NCHW; channels_last is a property of the weights, as
    in training)."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, size, size, generator=gen).to(settings.device)
    mask = centre_mask(batch, size, fraction, settings.device)
    return {"image": image, "mask": mask, "name": [f"random{i}" for i in range(batch)]}


# ------------------------------------------------------------------------------ steps
def train_step(
    parts: Parts,
    batch: dict[str, Any],
    clock: Clock | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> None:
    """One training batch: the module's own :meth:`InpaintingModule.gan_step` (D step, then G
    step with every loss term of the variant, gradient norms and Adam) under the run's
    autocast, its phases marked on ``clock``."""
    scaler = scaler or parts.settings.scaler()
    with parts.settings.autocast():
        parts.module.gan_step(
            batch, parts.opt_g, parts.opt_d, scaler, phase=clock.mark if clock else None
        )


def generator_step(
    parts: Parts,
    batch: dict[str, Any],
    clock: Clock | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> None:
    """Shift-Net's reference step: GT pass, masked forward, L1 + guidance backward, Adam.

    Phases: ``guidance target`` (``generator.guidance_target``: the encoder up to the shift
    level on the ground truth, under no_grad), ``forward`` (generator + losses),
    ``backward``, ``adam``. The variant's reconstruction and guidance weights are used; no
    discriminator and no style loss.
    """
    settings = parts.settings
    image, mask = batch["image"], batch["mask"]
    mark = clock.mark if clock is not None else (lambda name=None: None)
    scaler = scaler or settings.scaler()
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


def bench_shift(
    size: int,
    settings: Settings,
    batch: int = 4,
    channels: int = 256,
    hole_fraction: float = 0.25,
    warmup: int = 2,
    repeats: int = 5,
    seed: int = 0,
    method: str = "auto",
) -> dict[str, Any]:
    """Time and peak memory of ``shift_known_to_hole`` on a ``size``² map, centred hole,
    with the shift ``method`` (``auto`` resolves as training does on that device)."""
    gen = torch.Generator().manual_seed(seed)
    decoder = torch.randn(batch, channels, size, size, generator=gen).to(settings.device)
    encoder = torch.randn(batch, channels, size, size, generator=gen).to(settings.device)
    hole = centre_mask(batch, size, math.sqrt(hole_fraction), settings.device).bool()
    if settings.autocast_dtype is not None:
        decoder, encoder = decoder.to(settings.autocast_dtype), encoder.to(settings.autocast_dtype)

    def step(clock: Clock) -> None:
        with torch.no_grad():
            shift_known_to_hole(decoder, encoder, hole, method)
        clock.mark("shift")

    def reference_step(clock: Clock) -> None:
        shiftnet_style_shift(decoder, encoder, hole)
        clock.mark("shift")

    with PeakMemory(settings.device) as memory, OtherLoad() as other:
        timing = measure(step, settings.device, warmup, repeats)
    # The yardstick, in the same run (interleaving would share each noisy minute better;
    # back to back keeps the peak memory above the op's own).
    reference = measure(reference_step, settings.device, warmup, max(3, repeats // 3))
    entry = {
        "size": size,
        "batch_size": batch,
        "channels": channels,
        "hole_positions": int(hole[0].sum()),
        "method": resolve_shift_method(method, settings.device),
        "dtype": str(decoder.dtype).removeprefix("torch."),
        **timing.as_dict(),
        **memory.as_dict(),
        "other_cores": other.cores,
        "shiftnet_style_ms": round(reference.median_ms, 3),
        "speedup_vs_shiftnet_style": round(reference.median_ms / max(timing.median_ms, 1e-9), 2),
    }
    if settings.device.type == "cpu":
        entry["allocated_peak_bytes"] = cpu_allocated_peak_bytes(
            lambda: step(Clock(settings.device))
        )
    return entry
