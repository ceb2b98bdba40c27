"""The paper's improved SE block (Sec. 1.2, Fig. 2, eqs. 1–4).

Multi-scale right branch: a plain chain of 3×3 convs tapped after one, two and three convs
(receptive fields 3, 5, 7 → R1, R2, R3) and a dilated chain (dilation 2) tapped likewise
(R4, R5, R6), ELU after every conv. Left branch: squeeze-excitation, S = σ(MLP_ELU(GAP(·)))
(eqs. 1–2), one weight per channel of cont(R1..R6). R7 = S ⊗ cont(...) (eq. 3); X1 = X ⊕ R7
(eq. 4), fused back to the input width by a 1×1 conv so the U-Net shapes do not change
(NOTES.md, ambiguities 1–3). Spatial size is kept (stride 1).

What the squeeze pools (``squeeze``, docs/model.md "What the SE block squeezes"):

* ``multi_scale`` (default): GAP of cont(R1..R6), the features S re-weights, as SENet
  squeezes the output of the transform it scales;
* ``pre_norm``: GAP of the encoder conv's output *before* its InstanceNorm, handed in by the
  U-Net as ``context`` (the per-image channel means the norm removes);
* ``input``: GAP of the block input X, the literal reading of eq. 1. In this U-Net X is the
  output of an InstanceNorm without affine, whose channel means are 0 for every image, so S
  is the same constant for every image and the MLP's first layer gets no gradient: the
  attention is inert. Kept only to measure that (the ablation in docs/results.md).

With ``residual=True`` (the default) the block returns ``X + fuse(X ⊕ R7)`` with the fuse
initialised to zero, so it starts as the identity: a fused output without the residual
shrinks unit-scale features to ~0.1–0.2 at N(0, 0.02) init, which leaves the skip features
5–10× smaller than the decoder features they join and the guidance target ~6× too small.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from inpaintgan.models.base import DefaultInitLinear, ZeroInitConv2d

__all__ = ["SQUEEZE_SOURCES", "ConvChain", "ImprovedSEBlock", "SqueezeExcitation"]

#: What the squeeze may pool: see the module docstring.
SQUEEZE_SOURCES = ("multi_scale", "pre_norm", "input")


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
        self.mlp = nn.Sequential(  # PyTorch's default init, as SENet (not N(0, 0.02))
            DefaultInitLinear(in_channels, hidden),
            nn.ELU(),
            DefaultInitLinear(hidden, out_channels),
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
        squeeze: what eq. 1 pools, one of :data:`SQUEEZE_SOURCES` (module docstring).
            ``pre_norm`` needs the pre-norm feature as ``context`` in :meth:`forward`.
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
        squeeze: str = "multi_scale",
    ):
        super().__init__()
        if squeeze not in SQUEEZE_SOURCES:
            raise ValueError(f"squeeze must be one of {SQUEEZE_SOURCES}, got {squeeze!r}")
        self.residual = bool(residual)
        self.squeeze = squeeze
        branch = max(1, round(channels * branch_ratio))
        chains: list[ConvChain] = []
        for taps, dil in ((plain_taps, 1), (dilated_taps, dilation)):
            if shared_chain:
                chains.append(ConvChain(channels, branch, taps, dil))
            else:
                chains.extend(ConvChain(channels, branch, [t], dil) for t in taps)
        self.chains = nn.ModuleList(chains)
        multi_scale = branch * (len(plain_taps) + len(dilated_taps))
        squeezed = multi_scale if squeeze == "multi_scale" else channels
        self.excitation = SqueezeExcitation(squeezed, multi_scale, reduction)
        fuse = ZeroInitConv2d if self.residual else nn.Conv2d
        self.fuse = fuse(channels + multi_scale, channels, kernel_size=1)

    @property
    def wants_context(self) -> bool:
        """True when :meth:`forward` needs the pre-norm feature (``squeeze="pre_norm"``)."""
        return self.squeeze == "pre_norm"

    def channel_weights(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """S of eq. 2, ``[B, 6·branch, 1, 1]``: the attention this block applies to ``x``."""
        return self._weights(x, self._multi_scale(x), context)

    def _multi_scale(self, x: Tensor) -> Tensor:
        return torch.cat([r for chain in self.chains for r in chain(x)], dim=1)  # R1..R6

    def _weights(self, x: Tensor, multi: Tensor, context: Tensor | None) -> Tensor:
        if self.squeeze == "multi_scale":
            return self.excitation(multi)
        if self.squeeze == "input":
            return self.excitation(x)
        if context is None:
            raise ValueError("squeeze='pre_norm' needs the pre-norm feature as context")
        return self.excitation(context)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``x [B, C, H, W]`` (``context``: the pre-norm feature, same shape) → ``[B, C, H, W]``."""
        multi = self._multi_scale(x)
        r7 = self._weights(x, multi, context) * multi  # eq. 3
        fused = self.fuse(torch.cat([x, r7], dim=1))  # eq. 4, then back to C channels
        return x + fused if self.residual else fused
