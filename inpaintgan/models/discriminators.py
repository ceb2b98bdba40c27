"""Discriminators: DCGAN (the paper, Context Encoder) and PatchGAN (Shift-Net).

Both take images in ``[0, 1]`` and return raw logits (no sigmoid): the GAN loss in
``inpaintgan.losses`` picks vanilla / LSGAN / hinge on top of them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from inpaintgan.models.base import (
    from_unit_range,
    has_norm_layer,
    init_weights,
    make_norm,
    maybe_spectral,
)

__all__ = ["DCGANDiscriminator", "DiscriminatorInput", "PatchGANDiscriminator", "conv_norm_act"]

D_INPUT_MODES = ("full", "hole_box")


def discriminator_input_size(mode: str, image_size: int, scale: float) -> int:
    """Side of what D sees: the image side (``full``) or ``scale`` of it (``hole_box``)."""
    if mode not in D_INPUT_MODES:
        raise ValueError(f"discriminator input mode must be one of {D_INPUT_MODES}, got {mode!r}")
    if mode == "full":
        return int(image_size)
    return max(1, round(int(image_size) * float(scale)))


def conv_norm_act(
    in_channels: int, out_channels: int, stride: int, norm: str, use_norm: bool = True
) -> nn.Sequential:
    """4×4 conv (padding 1) → norm → LeakyReLU(0.2); ``spectral`` wraps the conv instead."""
    with_norm = use_norm and has_norm_layer(norm)
    conv = nn.Conv2d(in_channels, out_channels, 4, stride, 1, bias=not with_norm)
    layers: list[nn.Module] = [maybe_spectral(conv, norm)]
    if with_norm:
        layers.append(make_norm(norm, out_channels))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class DCGANDiscriminator(nn.Module):
    """Strided 4×4 convs halving the image down to ``final_size``, then one valid conv → logit.

    ``[B, 3, S, S]`` → ``[B, 1]`` logits for the size it was built for (a larger input gives
    ``[B, k]``, one logit per window). 256 → 6 stride-2 convs (64-128-256-512-512-512) to 4×4.

    Args:
        image_size: S; halved while even and larger than ``final_size``.
        base_channels: width of the first conv (64).
        max_channels: width cap (512).
        norm: ``batch`` (DCGAN), ``instance``, ``spectral`` or ``none``; never on the first conv.
        image_channels: 3.
        final_size: spatial size before the last conv (4 as DCGAN).
    """

    def __init__(
        self,
        image_size: int = 256,
        base_channels: int = 64,
        max_channels: int = 512,
        norm: str = "batch",
        image_channels: int = 3,
        final_size: int = 4,
    ):
        super().__init__()
        size, layers, in_ch = int(image_size), [], image_channels
        while size > final_size and size % 2 == 0:
            width = min(base_channels * 2 ** len(layers), max_channels)
            layers.append(conv_norm_act(in_ch, width, 2, norm, use_norm=bool(layers)))
            in_ch, size = width, size // 2
        if not layers:
            raise ValueError(f"image_size {image_size} is too small for final_size {final_size}")
        head = nn.Conv2d(in_ch, 1, size, 1, 0)
        self.features = nn.Sequential(*layers)
        self.head = maybe_spectral(head, norm)
        init_weights(self)

    def forward(self, image: Tensor) -> Tensor:
        """image ``[B, 3, S, S]`` in [0, 1] → logits ``[B, 1]``."""
        return self.head(self.features(from_unit_range(image))).flatten(1)


class PatchGANDiscriminator(nn.Module):
    """pix2pix / Shift-Net PatchGAN: 70×70 receptive field, one logit per patch.

    ``[B, 3, H, W]`` → ``[B, 1, H/8 - 2, W/8 - 2]`` with ``n_layers=3`` (30×30 at 256).
    Widths 64-128-256-512-1 by default; Shift-Net uses spectral norm on every conv.

    Args:
        base_channels: width of the first conv (64).
        n_layers: stride-2 convs after the first... as pix2pix (3).
        max_channels: width cap (512).
        norm: ``spectral`` (Shift-Net), ``batch``, ``instance`` or ``none``.
        image_channels: 3.
    """

    def __init__(
        self,
        base_channels: int = 64,
        n_layers: int = 3,
        max_channels: int = 512,
        norm: str = "spectral",
        image_channels: int = 3,
    ):
        super().__init__()
        widths = [min(base_channels * 2**i, max_channels) for i in range(n_layers + 1)]
        layers = [conv_norm_act(image_channels, widths[0], 2, norm, use_norm=False)]
        for i in range(1, n_layers):
            layers.append(conv_norm_act(widths[i - 1], widths[i], 2, norm))
        layers.append(conv_norm_act(widths[n_layers - 1], widths[n_layers], 1, norm))
        self.features = nn.Sequential(*layers)
        self.head = maybe_spectral(nn.Conv2d(widths[n_layers], 1, 4, 1, 1), norm)
        init_weights(self)

    def forward(self, image: Tensor) -> Tensor:
        """image ``[B, 3, H, W]`` in [0, 1] → patch logits ``[B, 1, h, w]``."""
        return self.head(self.features(from_unit_range(image)))


class DiscriminatorInput(nn.Module):
    """What the discriminator sees: the whole image, or the box around a rectangular hole.

    ``hole_box`` follows Shift-Net's code (D on the hole patch for center / rectangular
    masks; its comment: verified to improve results) and Context Encoder (D on the center):
    each image's hole bounding box is cut out and resampled to ``size``² (an exact crop when
    the box is ``size`` wide, an average-pooled one when it is a multiple of it). A hole that
    fills less than ``min_fill`` of its box (strokes, several boxes) or an empty mask gives
    the whole image instead, resampled the same way. Real and fake are cut with the boxes of
    the same mask, so D compares like with like. No host synchronisation.

    ``[B, 3, H, W]``, mask ``[B, 1, H, W]`` → ``[B, 3, size, size]`` with
    ``size = round(image_size * scale)``; ``full`` returns the image unchanged.
    """

    def __init__(
        self, image_size: int, mode: str = "hole_box", scale: float = 0.5, min_fill: float = 0.9
    ) -> None:
        super().__init__()
        if not 0 < scale <= 1:
            raise ValueError(f"discriminator input scale must be in (0, 1], got {scale}")
        self.size = discriminator_input_size(mode, image_size, scale)
        self.mode, self.min_fill = mode, float(min_fill)

    def extra_repr(self) -> str:
        return f"size={self.size}, mode={self.mode}, min_fill={self.min_fill}"

    def boxes(self, mask: Tensor) -> Tensor:
        """``[B, 4]`` float boxes ``(x0, y0, x1, y1)`` (exclusive ends) in pixels."""
        hole = mask[:, 0] > 0.5
        height, width = hole.shape[-2:]
        rows, cols = hole.any(dim=2), hole.any(dim=1)  # [B, H], [B, W]

        def span(line: Tensor, length: int) -> tuple[Tensor, Tensor]:
            first = line.to(torch.uint8).argmax(dim=1)
            last = length - line.flip(1).to(torch.uint8).argmax(dim=1)
            return first, last

        y0, y1 = span(rows, height)
        x0, x1 = span(cols, width)
        area = ((x1 - x0) * (y1 - y0)).clamp_min(1)
        fill = hole.flatten(1).sum(1) / area
        rectangular = rows.any(dim=1) & (fill >= self.min_fill)
        whole = torch.tensor([0, 0, width, height], device=mask.device)
        box = torch.stack([x0, y0, x1, y1], dim=1)
        return torch.where(rectangular[:, None], box, whole).to(torch.float32)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        if self.mode == "full":
            return image
        boxes = self.boxes(mask)
        index = torch.arange(image.shape[0], device=image.device, dtype=torch.float32)
        rois = torch.cat([index[:, None], boxes], dim=1).to(image.dtype)
        return roi_align(image, rois, self.size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)
