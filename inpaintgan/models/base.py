"""Shared pieces of the networks: the generator output, layer factories, init, cost helpers.

Every network takes images in ``[0, 1]`` at its boundary and works in ``[-1, 1]`` inside
(tanh output), as DCGAN / pix2pix / Shift-Net do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "DEFAULT_SIZE_MULTIPLE",
    "GeneratorOutput",
    "InstanceNorm2d",
    "NORMS",
    "DefaultInitLinear",
    "OwnInit",
    "ZeroInitConv2d",
    "complexity",
    "composite",
    "count_flops",
    "count_parameters",
    "from_unit_range",
    "init_weights",
    "is_channels_last",
    "make_norm",
    "size_requirements",
    "to_unit_range",
]

#: Accepted ``norm`` values: layer norms for feature maps, or ``spectral`` (weight wrapper).
NORMS = ("batch", "instance", "spectral", "none")


class GeneratorOutput(NamedTuple):
    """What every generator returns (docs/architecture.md).

    Attributes:
        image: ``[B, 3, H, W]`` raw prediction in ``[0, 1]`` (not composited).
        guidance_feature: decoder feature at the shift level, before the shift
            (``[B, C, h, w]``), or None for variants without a shift layer.
        guidance_hole: bool ``[B, 1, h, w]``, the feature-level hole there, or None.
    """

    image: Tensor
    guidance_feature: Tensor | None = None
    guidance_hole: Tensor | None = None


DEFAULT_SIZE_MULTIPLE = 256
"""Size multiple assumed for a network that does not declare ``size_multiple``."""


def size_requirements(module: nn.Module) -> tuple[int, int | None]:
    """``(size_multiple, fixed_size)``: the image sides ``module`` accepts, as it declares them.

    Every network declares them (:class:`~inpaintgan.models.unet.UNetGenerator`: multiples
    of ``2**depth``; :class:`~inpaintgan.models.context_encoder.ContextEncoder`: exactly its
    ``image_size``; the classical fills and the exports: their own). A module that declares
    neither gets multiples of :data:`DEFAULT_SIZE_MULTIPLE`.
    """
    if not hasattr(module, "size_multiple") and not hasattr(module, "fixed_size"):
        return DEFAULT_SIZE_MULTIPLE, None
    fixed = getattr(module, "fixed_size", None)
    return int(getattr(module, "size_multiple", 1) or 1), None if fixed is None else int(fixed)


def composite(output: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """Paste the known pixels back: ``output`` inside the hole, ``image`` outside it
    (``mask``: 1 = missing). What metrics score and the discriminator judges."""
    return output * mask + image * (1 - mask)


def ring_mean_colour(image: Tensor, mask: Tensor, ring: int = 8) -> Tensor:
    """Each image's mean colour of the known pixels within ``ring`` px (chessboard distance)
    of its hole, ``[B, C, 1, 1]``: the mean of all known pixels when that ring is empty,
    mid-grey (0.5) when nothing is known. ``image [B,C,H,W]`` in [0,1], ``mask [B,1,H,W]``
    (1 = missing). The mean fill's colour, and the U-Net's ``hole_fill="ring_mean"``.
    """
    hole = (mask > 0.5).to(image.dtype)
    grown = F.max_pool2d(hole, 2 * ring + 1, stride=1, padding=ring) if ring > 0 else hole
    known = 1 - hole
    ring_pixels = grown * known
    use_ring = ring_pixels.flatten(1).sum(1) > 0
    weight = torch.where(use_ring[:, None, None, None], ring_pixels, known)
    total = weight.flatten(1).sum(1)
    colour = (image * weight).flatten(2).sum(2) / total.clamp_min(1)[:, None]
    colour = torch.where((total > 0)[:, None], colour, torch.full_like(colour, 0.5))
    return colour[:, :, None, None]


def to_unit_range(x: Tensor) -> Tensor:
    """``[-1, 1]`` → ``[0, 1]``."""
    return (x + 1.0) * 0.5


def from_unit_range(x: Tensor) -> Tensor:
    """``[0, 1]`` → ``[-1, 1]``."""
    return x * 2.0 - 1.0


def is_channels_last(x: Tensor) -> bool:
    """Whether ``x`` is a 4-d tensor in channels_last (and not also plain contiguous, as a
    1×1 map or a single channel is)."""
    cl = torch.channels_last
    return x.dim() == 4 and x.is_contiguous(memory_format=cl) and not x.is_contiguous()


class InstanceNorm2d(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` that gives back its input's memory format.

    The native op normalises a contiguous (NCHW) copy, so a channels_last activation came
    out NCHW and every later op of the level (activation, skip concat, the next conv's
    input) ran in NCHW or paid a conversion. Here a channels_last input gets a channels_last
    output. Same parameters and state dict as ``nn.InstanceNorm2d``; exports and traces
    (NCHW graphs) take the plain path.
    """

    def forward(self, input: Tensor) -> Tensor:
        out = super().forward(input)
        if torch.compiler.is_exporting() or torch.jit.is_tracing():
            return out
        if is_channels_last(input) and not is_channels_last(out):
            out = out.contiguous(memory_format=torch.channels_last)
        return out


def make_norm(kind: str, channels: int) -> nn.Module:
    """A feature-map norm layer: BatchNorm, InstanceNorm (no affine, as pix2pix; keeps a
    channels_last input channels_last, :class:`InstanceNorm2d`) or none.

    ``spectral`` wraps weights instead (see :func:`maybe_spectral`), so it gives Identity here.
    """
    if kind not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def has_norm_layer(kind: str) -> bool:
    """Whether ``kind`` adds a norm layer after a conv (then the conv needs no bias). An
    unknown ``kind`` is a ValueError, so a typo never trains a network without its norm."""
    if kind not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")
    return kind in ("batch", "instance")


def maybe_spectral(conv: nn.Module, kind: str) -> nn.Module:
    """Wrap ``conv`` in spectral normalisation when ``kind == "spectral"``."""
    return spectral_norm(conv) if kind == "spectral" else conv


class OwnInit:
    """Marker: a layer whose ``reset_parameters`` is its init; :func:`init_weights` calls it
    instead of drawing N(0, std)."""


class DefaultInitLinear(OwnInit, nn.Linear):
    """A linear layer that keeps PyTorch's default (Kaiming-uniform) init under
    :func:`init_weights`: the SE MLP, initialised as SENet / torchvision's SE, whose
    N(0, 0.02) init would leave the channel weights ~flat at 0.5 for every image."""


class ZeroInitConv2d(OwnInit, nn.Conv2d):
    """A conv whose weight and bias start at zero (a residual branch that starts as a no-op);
    :func:`init_weights` leaves it at zero."""

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """DCGAN / Shift-Net init: conv and linear weights N(0, std), biases 0, BN weights N(1, std).

    Spectrally normalised layers are initialised through their original weight;
    :class:`OwnInit` layers (zero-init convs, the SE MLP) keep their own init.
    """
    for m in module.modules():
        if isinstance(m, OwnInit):
            m.reset_parameters()
        elif isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            if parametrize.is_parametrized(m, "weight"):
                weight = m.parametrizations.weight.original
            else:
                weight = m.weight
            nn.init.normal_(weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of ``fn()``, counted by :class:`torch.utils.flop_counter.FlopCounterMode`
    (convolutions and matmuls, forward and backward if ``fn`` runs one; a multiply-add
    counts 2; elementwise ops are not counted)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


@torch.no_grad()
def complexity(module: nn.Module, *inputs: Tensor) -> tuple[int, int]:
    """``(trainable parameters, forward FLOPs)`` of ``module(*inputs)``, measured.

    FLOPs are counted by :func:`count_flops` (a multiply-add counts 2; convolutions and
    matmuls only, elementwise ops are not counted). Divide by the batch size of ``inputs``
    for a per-image figure.
    """
    was_training = module.training
    module.eval()
    try:
        flops = count_flops(lambda: module(*inputs))
    finally:
        module.train(was_training)
    return count_parameters(module), flops
