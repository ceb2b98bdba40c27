"""The U-Net generator of the paper (``model=paper``) and of Shift-Net (``model=shiftnet``).

pix2pix / Shift-Net U-Net: ``depth`` encoder levels of 4×4 stride-2 convs, a mirrored
decoder of 4×4 stride-2 transposed convs, each decoder level concatenated with the encoder
feature of the same level. Two additions, both switchable:

* the improved SE block after the encoder levels in ``se_levels`` (paper; ``[]`` = off);
* the shift-connection layer at decoder level ``shift_level`` (Shift-Net; ``null`` = a
  plain skip there, and no guidance feature).

Levels are counted from the outermost: encoder level ``i`` has spatial size ``H / 2**i`` and
``min(base_channels * 2**(i-1), max_channels)`` channels. ``shift_level=3`` is the 32×32
level at 256 input (Shift-Net's choice) and 16×16 at 128. ``depth`` defaults to the number
of halvings that brings ``image_size`` to a 1×1 bottleneck, capped at ``max_depth`` (8 at
256 as pix2pix; 7 at 128); inputs must be multiples of ``2**depth``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from inpaintgan.models.base import (
    GeneratorOutput,
    from_unit_range,
    has_norm_layer,
    init_weights,
    make_norm,
    ring_mean_colour,
    to_unit_range,
)
from inpaintgan.models.se_block import ImprovedSEBlock
from inpaintgan.models.shift import ShiftLayer, feature_hole

__all__ = ["UPSAMPLE_MODES", "DownBlock", "UNetGenerator", "UpBlock", "resolve_depth"]


class DownBlock(nn.Module):
    """Encoder level: [LeakyReLU(0.2)] → 4×4 stride-2 conv → [norm]. Halves H and W.

    ``[B, C_in, H, W]`` → ``[B, C_out, H/2, W/2]``. The outermost level has no activation
    before (it sees the input) and no norm; the innermost has no norm (1×1 bottleneck).
    """

    def __init__(
        self, in_channels: int, out_channels: int, norm: str, activation: bool, use_norm: bool
    ):
        super().__init__()
        with_norm = use_norm and has_norm_layer(norm)
        layers: list[nn.Module] = [nn.LeakyReLU(0.2)] if activation else []
        layers.append(nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=not with_norm))
        if with_norm:
            layers.append(make_norm(norm, out_channels))
        self.block = nn.Sequential(*layers)
        self.has_norm = with_norm

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x)

    def forward_with_pre_norm(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The output and the conv's output before the norm (the same tensor without norm).

        The pre-norm feature keeps the per-image channel statistics that InstanceNorm
        removes: the SE block's ``squeeze="pre_norm"`` pools it.
        """
        if not self.has_norm:
            out = self.block(x)
            return out, out
        pre = self.block[:-1](x)
        return self.block[-1](pre), pre


UPSAMPLE_MODES = ("transpose", "resize")


class UpBlock(nn.Module):
    """Decoder level: ReLU → ×2 upsampling conv → norm (or tanh when outermost).

    ``[B, C_in, H, W]`` → ``[B, C_out, 2H, 2W]``. ``upsample="transpose"``: a 4×4 stride-2
    transposed conv (pix2pix / Shift-Net). ``"resize"``: nearest ×2 then a 3×3 conv (Odena et
    al. 2016): every output pixel sees the same number of input taps, so the decoder cannot
    paint the 2-pixel checkerboard that uneven transposed-conv overlap starts with, which at
    the coarse levels grows into the plaid of early training (docs/results.md).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        norm: str,
        outermost: bool,
        upsample: str = "transpose",
    ):
        super().__init__()
        if upsample not in UPSAMPLE_MODES:
            raise ValueError(f"upsample must be one of {UPSAMPLE_MODES}, got {upsample!r}")
        with_norm = not outermost and has_norm_layer(norm)
        layers: list[nn.Module] = [nn.ReLU()]
        if upsample == "transpose":
            layers.append(
                nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=not with_norm)
            )
        else:
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=not with_norm),
            ]
        if outermost:
            layers.append(nn.Tanh())
        elif with_norm:
            layers.append(make_norm(norm, out_channels))
        self.block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x)


HOLE_FILLS = ("zero", "ring_mean")


def resolve_depth(image_size: int | None, depth: int | None, max_depth: int = 8) -> int:
    """``depth`` if given, else the halvings from ``image_size`` to 1×1, capped at ``max_depth``.

    With neither, ``max_depth``. Examples: 256 → 8, 128 → 7, 512 → 8 (2×2 bottleneck).
    """
    if depth is not None:
        if depth < 2:
            raise ValueError(f"depth must be >= 2, got {depth}")
        return int(depth)
    if image_size is None:
        return int(max_depth)
    resolved = 0
    size = int(image_size)
    while resolved < max_depth and size % 2 == 0:
        size //= 2
        resolved += 1
    if resolved < 2:
        raise ValueError(f"image_size {image_size} must be divisible by 4 at least")
    return resolved


class UNetGenerator(nn.Module):
    """U-Net inpainting generator with optional SE blocks and a shift-connection layer.

    ``forward(image [B,3,H,W] in [0,1], mask [B,1,H,W], 1 = missing) -> GeneratorOutput``.
    The hole is set to 0 in the network's ``[-1, 1]`` range (mid-grey, Shift-Net's
    convention; ``hole_fill="zero"``) or to the mean colour of the known ring around it
    (``hole_fill="ring_mean"``), and the known-pixel mask ``1 - mask`` is appended as a
    fourth input channel.

    Args:
        image_size: training size, used only to derive ``depth`` when that is None.
        depth: number of levels (None: derived, see :func:`resolve_depth`).
        max_depth: cap of the derived depth.
        base_channels: width of level 1 (64 in the paper / Shift-Net).
        max_channels: width cap of the deeper levels (512).
        image_channels: channels of the image (3).
        norm: ``instance`` (Shift-Net), ``batch`` or ``none``.
        se_levels: encoder levels followed by an SE block; ``"auto"`` = all but the outermost
            and the innermost; ``[]`` = none (Shift-Net).
        se_block: factory ``channels -> nn.Module`` for the block (default
            :class:`ImprovedSEBlock` with its defaults; Hydra: a ``_partial_`` config).
        shift_level: decoder level of the shift-connection layer, or None for a plain skip.
        hole_threshold: fraction of missing pixels that makes a feature position a hole.
        shift_method: implementation of the shift (:data:`~inpaintgan.models.shift.SHIFT_METHODS`):
            ``auto`` = ``compact`` in eager mode on the CPU, ``dense`` (static shapes) on
            GPUs and under compile / export. Both give the same result.
        upsample: decoder upsampling, ``transpose`` (4×4 stride-2 transposed convs, pix2pix /
            Shift-Net) or ``resize`` (nearest ×2 + 3×3 conv); see :class:`UpBlock`.
        hole_fill: what the damaged input holds in the hole: ``zero`` (mid-grey, Shift-Net)
            or ``ring_mean`` (each image's mean colour of the known pixels within 8 px of the
            hole, :func:`~inpaintgan.models.base.ring_mean_colour`): the fill starts from the
            surrounding colour instead of grey (docs/model.md).

    Sizes: a built network takes sides that are multiples of :attr:`size_multiple`
    (``2**depth``; ``fixed_size`` None); :meth:`multiple_for` says the same of a config
    before anything is built.
    """

    fixed_size: int | None = None  # any side that is a multiple of size_multiple

    @staticmethod
    def levels_needed(shift_level: int | None) -> int:
        """The fewest levels a U-Net with this ``shift_level`` has: one below the shift
        level (its decoder level must lie in 1..depth-1), and never fewer than 2."""
        return max(2, int(shift_level) + 1) if shift_level is not None else 2

    @classmethod
    def multiple_for(cls, depth: int | None = None, shift_level: int | None = 3) -> int:
        """The multiple image sides must be of, for a U-Net built with ``depth`` and
        ``shift_level``: ``2**depth``, or with ``depth`` None (derived from the training
        size, :func:`resolve_depth`) ``2**levels_needed`` (a size with fewer halvings
        cannot give the levels). A ``depth`` below :meth:`levels_needed` is a ValueError."""
        needed = cls.levels_needed(shift_level)
        if depth is not None and int(depth) < needed:
            raise ValueError(
                f"depth={depth} is too shallow for shift_level={shift_level} "
                f"(needs depth >= {needed})"
            )
        return 2 ** (int(depth) if depth is not None else needed)

    def __init__(
        self,
        image_size: int | None = None,
        depth: int | None = None,
        max_depth: int = 8,
        base_channels: int = 64,
        max_channels: int = 512,
        image_channels: int = 3,
        norm: str = "instance",
        se_levels: Sequence[int] | Literal["auto"] = "auto",
        se_block: Callable[[int], nn.Module] | None = None,
        shift_level: int | None = 3,
        hole_threshold: float = 0.5,
        upsample: str = "transpose",
        shift_method: str = "auto",
        hole_fill: str = "zero",
    ):
        super().__init__()
        if hole_fill not in HOLE_FILLS:
            raise ValueError(f"hole_fill must be one of {HOLE_FILLS}, got {hole_fill!r}")
        self.hole_fill = hole_fill
        self.depth = resolve_depth(image_size, depth, max_depth)
        levels = range(1, self.depth + 1)
        if isinstance(se_levels, str):
            if se_levels != "auto":
                raise ValueError(f"se_levels must be a list of levels or 'auto', got {se_levels!r}")
            se_levels = list(range(2, self.depth))
        self.se_levels = sorted({int(level) for level in se_levels})
        if any(level not in levels for level in self.se_levels):
            raise ValueError(f"se_levels {self.se_levels} must lie in 1..{self.depth}")
        if shift_level is not None and not 1 <= shift_level < self.depth:
            raise ValueError(f"shift_level must lie in 1..{self.depth - 1}, got {shift_level}")
        self.shift_level = shift_level
        self.hole_threshold = hole_threshold
        self.image_channels = image_channels
        widths = [image_channels + 1] + [
            min(base_channels * 2 ** (i - 1), max_channels) for i in levels
        ]
        self.widths = widths

        self.down = nn.ModuleList(
            DownBlock(
                widths[i - 1],
                widths[i],
                norm,
                activation=i > 1,
                use_norm=1 < i < self.depth,
            )
            for i in levels
        )
        make_se = se_block if se_block is not None else ImprovedSEBlock
        self.se = nn.ModuleDict({str(i): make_se(widths[i]) for i in self.se_levels})
        self.shift = ShiftLayer(shift_method) if shift_level is not None else None

        def up_in(i: int) -> int:
            if i == self.depth:
                return widths[i]
            return widths[i] * (3 if i == shift_level else 2)

        self.up = nn.ModuleList(
            UpBlock(
                up_in(i),
                widths[i - 1] if i > 1 else image_channels,
                norm,
                outermost=i == 1,
                upsample=upsample,
            )
            for i in levels
        )
        init_weights(self)

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this: ``2**depth`` (one halving per level)."""
        return 2**self.depth

    def _network_input(self, image: Tensor, mask: Tensor, zero_hole: bool) -> Tensor:
        """``[B, 3+1, H, W]``: the image in [-1, 1] (hole zeroed or ring-mean filled, see
        ``hole_fill``; left as it is with ``zero_hole=False``) and the known-pixel mask."""
        size = image.shape[-2:]
        multiple = self.size_multiple
        if size[0] % multiple or size[1] % multiple:
            raise ValueError(
                f"input {tuple(size)} must be a multiple of 2**depth = {multiple} "
                f"(depth {self.depth}); resize or pad it"
            )
        known = 1.0 - mask.to(image.dtype)
        x = from_unit_range(image)
        if zero_hole:
            x = x * known
            if self.hole_fill == "ring_mean":
                x = x + from_unit_range(ring_mean_colour(image, mask)) * (1.0 - known)
        return torch.cat([x, known], dim=1)

    def _encode(self, x: Tensor, levels: int) -> list[Tensor]:
        """Encoder features of levels 1..``levels`` (after their SE blocks)."""
        features = []
        for i, down in enumerate(self.down[:levels], start=1):
            se = self.se[str(i)] if str(i) in self.se else None
            if se is not None and getattr(se, "wants_context", False):
                x, pre_norm = down.forward_with_pre_norm(x)
                x = se(x, pre_norm)
            else:
                x = down(x)
                if se is not None:
                    x = se(x)
            features.append(x)
        return features

    def forward(self, image: Tensor, mask: Tensor) -> GeneratorOutput:
        """image ``[B,3,H,W]`` in [0,1], mask ``[B,1,H,W]`` (1 = missing) → GeneratorOutput."""
        features = self._encode(self._network_input(image, mask, zero_hole=True), self.depth)
        guidance_feature = guidance_hole = None
        x = features[-1]
        for i in range(self.depth, 0, -1):
            if i < self.depth:
                encoder = features[i - 1]
                if i == self.shift_level and self.shift is not None:
                    guidance_feature = x
                    guidance_hole = feature_hole(mask, x.shape[-2:], self.hole_threshold)
                    x = self.shift(x, encoder, guidance_hole)
                else:
                    x = torch.cat([x, encoder], dim=1)
            x = self.up[i - 1](x)
        return GeneratorOutput(to_unit_range(x), guidance_feature, guidance_hole)

    @torch.no_grad()
    def guidance_target(self, image: Tensor, mask: Tensor) -> Tensor | None:
        """Encoder feature at the shift level for the ground truth ``[B, C, h, w]`` (eq. 7).

        The ground truth goes in unmasked, with the same mask channel as the damaged pass;
        only the encoder up to the shift level runs, under no_grad. None without a shift.
        """
        if self.shift_level is None:
            return None
        x = self._network_input(image, mask, zero_hole=False)
        return self._encode(x, self.shift_level)[-1]
