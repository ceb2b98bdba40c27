"""Context Encoder (Pathak et al. 2016) adapted to full images at any power-of-two size.

The original takes 128×128 and predicts the 64×64 centre. Here (``model=ce``): 4×4
stride-2 convs (LeakyReLU 0.2, norm after all but the first) down to 4×4, a 4×4 valid conv
to a ``bottleneck_channels``-wide 1×1 code (the channel-wise bottleneck, 4000 as the
original), then the mirror: a 4×4 transposed conv back to 4×4 and stride-2 transposed
convs (ReLU, norm) up to the full image with tanh. No skip connections, no shift layer.

``predict="center"`` is Context Encoder's own setting: the decoder stops one level early and
predicts only the central ``S/2 × S/2`` patch (64×64 at 128), which is pasted into the input;
the pixels outside the patch are the input's. ``predict="full"`` rebuilds the whole image
through the bottleneck (the earlier adaptation, kept as an option).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from inpaintgan.models.base import (
    GeneratorOutput,
    from_unit_range,
    has_norm_layer,
    init_weights,
    make_norm,
    to_unit_range,
)

__all__ = ["ContextEncoder"]


class ContextEncoder(nn.Module):
    """Encoder–bottleneck–decoder generator without skips (the ``ce`` baseline).

    ``forward(image [B,3,S,S] in [0,1], mask [B,1,S,S]) -> GeneratorOutput`` (no guidance).

    Args:
        image_size: S, a power-of-two multiple of 4 (≥ 8); the network is built for it.
        base_channels: width of the first conv (64).
        max_channels: width cap of the deeper convs (512).
        bottleneck_channels: width of the 1×1 code (4000 in Context Encoder).
        image_channels: channels of the image (3).
        norm: ``batch`` (Context Encoder), ``instance`` or ``none``.
        mask_channel: append the known-pixel mask as an input channel (the original: no).
        predict: ``center`` (Context Encoder: the central S/2 patch only) or ``full``.

    Sizes: exactly ``image_size`` (:attr:`fixed_size`; other sizes are resized to it by
    :class:`~inpaintgan.inpainter.Inpainter`).
    """

    size_multiple = 1

    def __init__(
        self,
        image_size: int = 256,
        base_channels: int = 64,
        max_channels: int = 512,
        bottleneck_channels: int = 4000,
        image_channels: int = 3,
        norm: str = "batch",
        mask_channel: bool = False,
        predict: str = "center",
    ):
        super().__init__()
        if predict not in ("center", "full"):
            raise ValueError(f"predict must be center or full, got {predict!r}")
        size, halvings = int(image_size), 0
        while size > 4 and size % 2 == 0:
            size //= 2
            halvings += 1
        if size != 4 or halvings < (2 if predict == "center" else 1):
            raise ValueError(
                f"image_size must be 4 * 2**k with k >= {2 if predict == 'center' else 1}, "
                f"got {image_size}"
            )
        self.image_size = int(image_size)
        self.predict = predict
        self.mask_channel = mask_channel
        with_norm = has_norm_layer(norm)
        widths = [min(base_channels * 2**i, max_channels) for i in range(halvings)]

        enc: list[nn.Module] = []
        in_ch = image_channels + int(mask_channel)
        for i, width in enumerate(widths):
            enc.append(nn.Conv2d(in_ch, width, 4, 2, 1, bias=i == 0 or not with_norm))
            if i > 0 and with_norm:
                enc.append(make_norm(norm, width))
            enc.append(nn.LeakyReLU(0.2))
            in_ch = width
        # The code is 1×1: no norm there (BatchNorm would fail at batch 1).
        enc += [nn.Conv2d(in_ch, bottleneck_channels, 4, 1, 0), nn.LeakyReLU(0.2)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [
            nn.ConvTranspose2d(bottleneck_channels, widths[-1], 4, 1, 0, bias=not with_norm)
        ]
        dec += [make_norm(norm, widths[-1])] if with_norm else []
        dec.append(nn.ReLU())
        last = 1 if predict == "full" else 2  # center: one upsampling fewer (S/2 output)
        for i in range(halvings - 1, last - 1, -1):
            dec.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 4, 2, 1, bias=not with_norm))
            dec += [make_norm(norm, widths[i - 1])] if with_norm else []
            dec.append(nn.ReLU())
        dec += [nn.ConvTranspose2d(widths[last - 1], image_channels, 4, 2, 1), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)
        init_weights(self)

    @property
    def fixed_size(self) -> int:
        """The one side this network takes: the ``image_size`` it was built for."""
        return self.image_size

    def center_box(self) -> tuple[int, int]:
        """``(start, end)`` of the central patch along each side (32, 96 at 128)."""
        start = self.image_size // 4
        return start, start + self.image_size // 2

    def predict_center(self, image: Tensor, mask: Tensor) -> Tensor:
        """The decoder's own output: ``[B,3,S/2,S/2]`` (center) or ``[B,3,S,S]`` (full), [0,1]."""
        if tuple(image.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(
                f"ContextEncoder was built for {self.image_size}×{self.image_size}, "
                f"got {tuple(image.shape[-2:])}"
            )
        known = 1.0 - mask.to(image.dtype)
        x = from_unit_range(image) * known
        if self.mask_channel:
            x = torch.cat([x, known], dim=1)
        return to_unit_range(self.decoder(self.encoder(x)))

    def forward(self, image: Tensor, mask: Tensor) -> GeneratorOutput:
        """image ``[B,3,S,S]`` in [0,1], mask ``[B,1,S,S]`` → ``[B,3,S,S]`` in [0,1]; with
        ``predict="center"`` the prediction inside the central patch and, outside it, the known
        pixels (hole pixels there, which CE cannot reach, are mid-grey)."""
        prediction = self.predict_center(image, mask)
        if self.predict == "full":
            return GeneratorOutput(prediction)
        start, end = self.center_box()
        pad = (start, self.image_size - end, start, self.image_size - end)
        inside = torch.nn.functional.pad(torch.ones_like(prediction[:, :1]), pad)
        pasted = torch.nn.functional.pad(prediction, pad)
        hole = mask.to(prediction.dtype)
        outside = image.to(prediction.dtype) * (1 - hole) + 0.5 * hole
        return GeneratorOutput(pasted * inside + outside * (1 - inside))

    def guidance_target(self, image: Tensor, mask: Tensor) -> Tensor | None:
        """No shift layer, hence no guidance target."""
        return None
