"""The paper's improved SE block (Sec. 1.2, Fig. 2, eqs. 1–4).

Multi-scale right branch: a plain chain of 3×3 convs tapped after one, two and three convs
(receptive fields 3, 5, 7 → R1, R2, R3) and a dilated chain (dilation 2) tapped likewise
(R4, R5, R6), ELU after every conv. Left branch: squeeze-excitation from the block input,
S = σ(MLP_ELU(GAP(X))) (eqs. 1–2), one weight per channel of cont(R1..R6). R7 = S ⊗ cont(...)
(eq. 3); X1 = X ⊕ R7 (eq. 4), fused back to the input width by a 1×1 conv so the U-Net
shapes do not change (NOTES.md, ambiguities 1–3). Spatial size is kept (stride 1).

With ``residual=True`` (the default) the block returns ``X + fuse(X ⊕ R7)`` with the fuse
initialised to zero, so it starts as the identity: a fused output without the residual
shrinks unit-scale features to ~0.1–0.2 at N(0, 0.02) init, which leaves the skip features
5–10× smaller than the decoder features they join and the guidance target ~6× too small.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from inpaintgan.models.base import ZeroInitConv2d

__all__ = ["ConvChain", "ImprovedSEBlock", "SqueezeExcitation"]


class ConvChain(nn.Module):
    """Stacked 3×3 convs with ELU, returning the activations after the requested depths.

    ``[B, C_in, H, W]`` → ``len(taps)`` tensors ``[B, C_out, H, W]``. ``taps=(1, 2, 3)`` with
    ``dilation=1`` gives receptive fields 3, 5, 7 (R1–R3); ``dilation=2`` gives 5, 9, 13.
    """

    def __init__(self, in_channels: int, out_channels: int, taps: Sequence[int], dilation: int):
        super().__init__()
        if not taps or min(taps) < 1:
            raise ValueError(f"taps must be positive conv counts, got {list(taps)}")
        self.taps = tuple(int(t) for t in taps)
        self.convs = nn.ModuleList(
            nn.Conv2d(
                in_channels if i == 0 else out_channels,
                out_channels,
                kernel_size=3,
                padding=dilation,
                dilation=dilation,
            )
            for i in range(max(self.taps))
        )
        self.act = nn.ELU()

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs: dict[int, Tensor] = {}
        for depth, conv in enumerate(self.convs, start=1):
            x = self.act(conv(x))
            outputs[depth] = x
        return [outputs[t] for t in self.taps]


class SqueezeExcitation(nn.Module):
    """Channel weights from global average pooling and an ELU MLP with a sigmoid (eqs. 1–2).

    ``[B, C_in, H, W]`` → ``[B, C_out, 1, 1]`` in ``(0, 1)``.
    """

    def __init__(self, in_channels: int, out_channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, in_channels // reduction)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden), nn.ELU(), nn.Linear(hidden, out_channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        z = x.mean(dim=(2, 3))  # eq. 1, [B, C_in]
        return torch.sigmoid(self.mlp(z))[:, :, None, None]  # eq. 2


class ImprovedSEBlock(nn.Module):
    """Multi-scale convs re-weighted by SE, concatenated with the input, fused by a 1×1 conv.

    ``[B, C, H, W]`` → ``[B, C, H, W]``. Each of the six multi-scale outputs has
    ``max(1, round(C * branch_ratio))`` channels.

    Args:
        channels: width ``C`` of the encoder level.
        branch_ratio: width of each R_k relative to ``C`` (keeps the 512-wide levels cheap).
        reduction: SE MLP hidden width is ``C // reduction``.
        dilation: dilation of the second chain (the paper: 2).
        plain_taps: conv counts of R1–R3 (the paper: 1, 2, 3).
        dilated_taps: conv counts of R4–R6 (the paper writes 1, 2, 2; NOTES.md reads 1, 2, 3).
        shared_chain: True: R2 extends R1 and R3 extends R2 (one chain per branch, half the
            convs); False: an independent stack per output.
        residual: add the input to the fused output, fuse initialised to zero (identity at
            init); False: the fused output alone (N(0, 0.02) init like the other convs).
    """

    def __init__(
        self,
        channels: int,
        branch_ratio: float = 0.25,
        reduction: int = 16,
        dilation: int = 2,
        plain_taps: Sequence[int] = (1, 2, 3),
        dilated_taps: Sequence[int] = (1, 2, 3),
        shared_chain: bool = True,
        residual: bool = True,
    ):
        super().__init__()
        self.residual = bool(residual)
        branch = max(1, round(channels * branch_ratio))
        chains: list[ConvChain] = []
        for taps, dil in ((plain_taps, 1), (dilated_taps, dilation)):
            if shared_chain:
                chains.append(ConvChain(channels, branch, taps, dil))
            else:
                chains.extend(ConvChain(channels, branch, [t], dil) for t in taps)
        self.chains = nn.ModuleList(chains)
        multi_scale = branch * (len(plain_taps) + len(dilated_taps))
        self.excitation = SqueezeExcitation(channels, multi_scale, reduction)
        fuse = ZeroInitConv2d if self.residual else nn.Conv2d
        self.fuse = fuse(channels + multi_scale, channels, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        multi = torch.cat([r for chain in self.chains for r in chain(x)], dim=1)  # R1..R6
        r7 = self.excitation(x) * multi  # eq. 3
        fused = self.fuse(torch.cat([x, r7], dim=1))  # eq. 4, then back to C channels
        return x + fused if self.residual else fused
