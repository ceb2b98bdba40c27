"""Discriminators: DCGAN (the paper, Context Encoder) and PatchGAN (Shift-Net).

Both take images in ``[0, 1]`` and return raw logits (no sigmoid): the GAN loss in
``inpaintgan.losses`` picks vanilla / LSGAN / hinge on top of them.
"""

from __future__ import annotations

from torch import Tensor, nn

from inpaintgan.models.base import (
    from_unit_range,
    has_norm_layer,
    init_weights,
    make_norm,
    maybe_spectral,
)

__all__ = ["DCGANDiscriminator", "PatchGANDiscriminator", "conv_norm_act"]


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
