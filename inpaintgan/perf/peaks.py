"""Spec-sheet peak rates of NVIDIA GPUs, the math mode of a run, and MFU.

MFU (model FLOP utilisation) = achieved FLOP/s ÷ a peak FLOP/s *of the run's own math mode*
(:func:`math_mode`: ``bf16``, ``fp16``, ``tf32`` or ``fp32``). The bench reports it against
two peaks (docs/performance.md):

* **spec**: the dense (no structured sparsity) peak of the detected GPU from its data sheet,
  :data:`GPU_PEAKS`, matched on ``torch.cuda.get_device_name``; an unknown GPU (or the CPU)
  gets no spec MFU, with the reason;
* **measured**: a large GEMM in the same math mode on the same device
  (:func:`inpaintgan.perf.flops.measured_peak`), usually 70-90 % of the spec peak.

A float32 row is never divided by a bf16 rate: its math mode is ``tf32`` when the
convolutions or the matmuls may use TF32 (:func:`fp32_tf32_flags`; cuDNN's convolutions do
by default), else ``fp32``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "GPU_PEAKS",
    "MATH_MODES",
    "GpuPeak",
    "SpecPeak",
    "fp32_tf32_flags",
    "lookup_gpu",
    "math_mode",
    "mfu",
    "spec_peak",
]

#: The math modes a row can run in, i.e. the columns of :data:`GPU_PEAKS`.
MATH_MODES = ("bf16", "fp16", "tf32", "fp32")

_TERA = 1e12


@dataclass(frozen=True)
class GpuPeak:
    """One GPU's dense peak rates in TFLOP/s (None: no such units, e.g. bf16 on a V100).

    ``pattern`` is searched (case-insensitively) in ``torch.cuda.get_device_name``.
    """

    gpu: str
    pattern: str
    bf16: float | None
    fp16: float | None
    tf32: float | None
    fp32: float
    source: str

    def tflops(self, math: str) -> float | None:
        """The peak of ``math`` (one of :data:`MATH_MODES`) in TFLOP/s, or None."""
        if math not in MATH_MODES:
            raise ValueError(f"math mode must be one of {MATH_MODES}, got {math!r}")
        return getattr(self, math)


_DS = "NVIDIA data sheet"
_HALF = "dense = half the with-sparsity figure"

#: Dense peaks (TFLOP/s) of the tensor cores (bf16/fp16 with fp32 accumulation, tf32) and of
#: the plain fp32 units. Rows are tried in order; the first whose pattern matches wins, so
#: the more specific form factors (NVL, PCIe) come before the generic name.
GPU_PEAKS: tuple[GpuPeak, ...] = (
    GpuPeak("A100 SXM4/PCIe", r"\bA100\b", 312.0, 312.0, 156.0, 19.5, f"{_DS} (A100)"),
    GpuPeak("H100 NVL", r"\bH100\b.*\bNVL\b", 835.5, 835.5, 417.5, 60.0, f"{_DS} (H100), {_HALF}"),
    GpuPeak(
        "H100 PCIe", r"\bH100\b.*\bPCIe\b", 756.5, 756.5, 378.0, 51.0, f"{_DS} (H100), {_HALF}"
    ),
    GpuPeak(
        "H100 SXM5",
        r"\bH100\b.*\b(SXM|HBM3)",
        989.4,
        989.4,
        494.7,
        67.0,
        f"{_DS} (H100), {_HALF}",
    ),
    GpuPeak("H200 NVL", r"\bH200\b.*\bNVL\b", 835.5, 835.5, 417.5, 60.0, f"{_DS} (H200), {_HALF}"),
    GpuPeak("H200 SXM", r"\bH200\b", 989.4, 989.4, 494.7, 67.0, f"{_DS} (H200), {_HALF}"),
    GpuPeak("L40S", r"\bL40S\b", 362.05, 362.05, 183.0, 91.6, f"{_DS} (L40S)"),
    GpuPeak("L40", r"\bL40\b", 181.05, 181.05, 90.5, 90.5, f"{_DS} (L40)"),
    GpuPeak("L4", r"\bL4\b", 121.0, 121.0, 60.0, 30.3, f"{_DS} (L4), {_HALF}"),
    GpuPeak("A10", r"\bA10\b", 125.0, 125.0, 62.5, 31.2, f"{_DS} (A10)"),
    GpuPeak(
        "RTX 4090",
        r"\bRTX 4090$",
        165.2,
        165.2,
        82.6,
        82.6,
        "NVIDIA Ada whitepaper (fp32 accumulation)",
    ),
    GpuPeak(
        "RTX 3090",
        r"\bRTX 3090$",
        71.0,
        71.0,
        35.6,
        35.6,
        "NVIDIA GA102 whitepaper (fp32 accumulation)",
    ),
    GpuPeak("V100S PCIe", r"\bV100S\b", None, 130.0, None, 16.4, f"{_DS} (V100S)"),
    GpuPeak("V100 SXM2", r"\bV100\b.*\bSXM", None, 125.0, None, 15.7, f"{_DS} (V100)"),
    GpuPeak("V100 PCIe", r"\bV100\b.*\bPCIe\b", None, 112.0, None, 14.0, f"{_DS} (V100)"),
    GpuPeak("T4", r"\bT4\b", None, 65.0, None, 8.1, f"{_DS} (T4)"),
)


@dataclass(frozen=True)
class SpecPeak:
    """The spec-sheet peak of one math mode on one device, or why there is none."""

    flops_per_s: float | None
    gpu: str | None = None
    source: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON fields (``reason`` only when there is no peak or it needs a note)."""
        out: dict[str, Any] = {"gpu": self.gpu, "flops_per_s": self.flops_per_s}
        if self.source:
            out["source"] = self.source
        if self.reason:
            out["reason"] = self.reason
        return out


def lookup_gpu(device_name: str) -> GpuPeak | None:
    """The :data:`GPU_PEAKS` row of a ``torch.cuda.get_device_name`` string, or None."""
    name = device_name.strip()
    for row in GPU_PEAKS:
        if re.search(row.pattern, name, re.IGNORECASE):
            return row
    return None


def spec_peak(device_name: str, math: str, device_type: str = "cuda") -> SpecPeak:
    """The dense spec-sheet peak (FLOP/s) of ``math`` on the named device, or the reason why
    there is none (the CPU, a GPU not in :data:`GPU_PEAKS`, a math mode it has no units for).

    A ``tf32`` row on a GPU without TF32 tensor cores (V100, T4) runs in plain fp32, so it
    gets the fp32 peak, with a note.
    """
    if math not in MATH_MODES:
        raise ValueError(f"math mode must be one of {MATH_MODES}, got {math!r}")
    if device_type != "cuda":
        return SpecPeak(None, reason="spec-sheet peaks are listed for NVIDIA GPUs only")
    row = lookup_gpu(device_name)
    if row is None:
        return SpecPeak(
            None,
            reason=f"no spec-sheet entry for {device_name!r} (add it to "
            "inpaintgan/perf/peaks.py GPU_PEAKS)",
        )
    tflops = row.tflops(math)
    if tflops is None and math == "tf32":
        return SpecPeak(
            row.fp32 * _TERA,
            row.gpu,
            row.source,
            reason=f"{row.gpu} has no TF32 tensor cores: fp32 math runs on the fp32 units",
        )
    if tflops is None:
        return SpecPeak(None, row.gpu, row.source, reason=f"{row.gpu} has no {math} tensor cores")
    return SpecPeak(tflops * _TERA, row.gpu, row.source)


def fp32_tf32_flags() -> dict[str, bool]:
    """Whether float32 convolutions (cuDNN, on by default) and matmuls
    (``torch.set_float32_matmul_precision('high'|'medium')``) may run on TF32 tensor cores."""
    return {
        "conv": bool(torch.backends.cudnn.allow_tf32),
        "matmul": torch.get_float32_matmul_precision() != "highest",
    }


def math_mode(precision: str, device_type: str, tf32: dict[str, bool] | None = None) -> str:
    """The math mode of a run: ``bf16`` / ``fp16`` for autocast (``precision`` ``bf16`` /
    ``16``); for ``32`` on CUDA ``tf32`` when convolutions or matmuls may use TF32
    (``tf32``, default :func:`fp32_tf32_flags`), else ``fp32``; ``fp32`` on the CPU."""
    if precision == "bf16":
        return "bf16"
    if precision == "16":
        return "fp16"
    if precision != "32":
        raise ValueError(f"precision must be 32, bf16 or 16, got {precision!r}")
    if device_type != "cuda":
        return "fp32"
    flags = fp32_tf32_flags() if tf32 is None else tf32
    return "tf32" if any(flags.values()) else "fp32"


def mfu(achieved_flops_per_s: float, peak_flops_per_s: float | None) -> float | None:
    """``achieved / peak`` rounded to 4 digits; None when there is no peak."""
    if not peak_flops_per_s or peak_flops_per_s <= 0:
        return None
    return round(achieved_flops_per_s / peak_flops_per_s, 4)
