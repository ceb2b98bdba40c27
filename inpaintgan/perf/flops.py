"""FLOPs and the device's measured peak rate (the MFU denominator).

FLOPs are counted by :func:`inpaintgan.models.base.count_flops`, the counter behind
:func:`inpaintgan.models.complexity`.
"""

from __future__ import annotations

import torch
from torch import nn

from inpaintgan.models.base import count_flops
from inpaintgan.perf.timing import Clock

__all__ = ["conv_peak_flops", "count_flops", "matmul_peak_flops"]


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
