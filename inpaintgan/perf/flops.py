"""FLOPs and the device's measured peak rate (the measured MFU denominator).

FLOPs are counted by :func:`inpaintgan.models.base.count_flops`, the counter behind
:func:`inpaintgan.models.complexity`. The spec-sheet peaks are in
:mod:`inpaintgan.perf.peaks`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from inpaintgan.models.base import count_flops
from inpaintgan.perf.peaks import MATH_MODES
from inpaintgan.perf.timing import Clock

__all__ = [
    "MATH_DTYPES",
    "conv_peak_flops",
    "count_flops",
    "float32_matmul_precision",
    "matmul_peak_flops",
    "measured_peak",
]

#: The dtype of the measuring GEMM of each math mode (tf32 / fp32: float32 operands, the
#: matmul precision decides whether the tensor cores run it).
MATH_DTYPES = {
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "tf32": torch.float32,
    "fp32": torch.float32,
}


@contextlib.contextmanager
def float32_matmul_precision(precision: str) -> Iterator[None]:
    """``torch.set_float32_matmul_precision(precision)`` inside the block, restored after."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def measured_peak(device: torch.device, math: str) -> dict[str, Any]:
    """The measured peak of ``math`` (:data:`~inpaintgan.perf.peaks.MATH_MODES`) on ``device``.

    CUDA: a large GEMM in the mode's own dtype (bf16 rows against a bf16 GEMM, fp16 against
    fp16, tf32 against a float32 GEMM at matmul precision ``high``, fp32 against one at
    ``highest``), never another mode's rate. CPU: the faster of a GEMM and a large 3×3
    convolution in that dtype (oneDNN's convolutions beat MKL's GEMM on some CPUs).
    """
    if math not in MATH_MODES:
        raise ValueError(f"math mode must be one of {MATH_MODES}, got {math!r}")
    dtype = MATH_DTYPES[math]
    precision = "high" if math == "tf32" else "highest"
    with float32_matmul_precision(precision):
        matmul = matmul_peak_flops(device, dtype)
    conv = conv_peak_flops(device, dtype) if device.type != "cuda" else None
    return {
        "dtype": str(dtype).removeprefix("torch."),
        "matmul_precision": precision if dtype == torch.float32 else None,
        "matmul_flops_per_s": round(matmul),
        "conv_flops_per_s": round(conv) if conv is not None else None,
        "flops_per_s": round(max(matmul, conv or 0.0)),
    }


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
