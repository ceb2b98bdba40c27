"""A Shift-Net-style shift operation, the yardstick of the bench's ``shift`` rows.

Written for this project after the *approach* of Shift-Net's layer (Yan et al. 2018), not
its code: one image at a time, the known encoder vectors become 1×1 convolution kernels,
a convolution of the decoder feature with them gives a ``[K, H, W]`` similarity map, its
argmax a dense ``[HW, K]`` one-hot matrix, and a matrix product with the known vectors
pastes them. Same rule as :func:`inpaintgan.models.shift.shift_known_to_hole` (cosine
similarity, first known position on ties, 0 outside the hole; equal in tests), so the bench
can time both in one run: a ratio that machine noise hits on both sides alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["shiftnet_style_shift"]


@torch.no_grad()
def shiftnet_style_shift(decoder: Tensor, encoder: Tensor, hole: Tensor) -> Tensor:
    """``[B, C, H, W]`` decoder / encoder features and a bool ``[B, 1, H, W]`` hole → the
    shifted ``[B, C, H, W]`` (the known encoder vector most similar to each hole position's
    decoder vector; 0 elsewhere). Per-image loop, convolution similarity, dense one-hot."""
    b, c, h, w = encoder.shape
    out = torch.zeros_like(encoder)
    for i in range(b):
        known = ~hole[i].reshape(h * w)
        if bool(known.all()) or not bool(known.any()):
            continue
        keys = encoder[i].reshape(c, h * w)[:, known].t()  # [K, C]
        kernels = keys / keys.norm(dim=1, keepdim=True).clamp_min(1e-8)
        similarity = F.conv2d(decoder[i : i + 1], kernels[:, :, None, None])  # [1, K, H, W]
        best = similarity.reshape(-1, h * w).argmax(dim=0)  # [HW]
        one_hot = F.one_hot(best, num_classes=keys.shape[0]).to(keys.dtype)  # [HW, K]
        pasted = (one_hot @ keys).t().reshape(c, h, w)  # [C, H, W]
        out[i] = pasted * hole[i].to(pasted.dtype)
    return out
