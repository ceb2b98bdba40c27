"""The human-readable summary of a bench result."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["format_table"]


def _fmt(value: Any, spec: str, scale: float = 1.0) -> str:
    """``value / scale`` formatted with ``spec``, or a right-aligned ``-`` when missing."""
    if value is None:
        return "-".rjust(int(re.match(r"\d*", spec).group() or 0))
    return format(value / scale, spec)


def _rate(flops_per_s: float) -> str:
    """A FLOP/s figure in TFLOP/s (GPU scale) or GFLOP/s."""
    if flops_per_s >= 1e12:
        return f"{flops_per_s / 1e12:.1f} TFLOP/s"
    return f"{flops_per_s / 1e9:.1f} GFLOP/s"


def _peak_lines(peak: dict[str, Any]) -> list[str]:
    """The two MFU denominators of the run's math mode."""
    measured, spec = peak["measured"], peak["spec"]
    detail = f"matmul {_rate(measured['matmul_flops_per_s'])}"
    if measured.get("conv_flops_per_s"):
        detail += f", 3x3 conv {_rate(measured['conv_flops_per_s'])}"
    if measured.get("matmul_precision"):
        detail += f", matmul precision {measured['matmul_precision']}"
    lines = [
        f"peak ({peak['math']}), MFU denominators: measured {_rate(measured['flops_per_s'])} "
        f"({measured['dtype']}: {detail})"
    ]
    if spec.get("flops_per_s"):
        note = f"; {spec['reason']}" if spec.get("reason") else ""
        lines.append(
            f"  spec sheet: {spec['gpu']} {_rate(spec['flops_per_s'])} dense "
            f"({spec.get('source')}{note})"
        )
    else:
        lines.append(f"  spec sheet: n/a ({spec.get('reason')})")
    if "fp32_tf32" in peak:
        flags = peak["fp32_tf32"]
        lines.append(f"  float32 on TF32: convolutions {flags['conv']}, matmuls {flags['matmul']}")
    return lines


def format_table(result: dict[str, Any]) -> str:
    """The human-readable summary of a :func:`run_bench` result."""
    c, env = result["config"], result["environment"]
    lines = [
        f"inpaintgan bench: model={c['model']} size={c['size']} batch_size={c['batch_size']} "
        f"device={c['device']} ({env['device_name']}, {env['threads']} threads) "
        f"precision={c['precision']} channels_last={c['channels_last']} compile={c['compile']}",
        f"load average: start {result.get('loadavg_start')}, end {result.get('loadavg_end')}; "
        f"median of {c['repeats']} runs after {c['warmup']} warm-up; 'other': cores used by "
        "other processes meanwhile",
    ]
    header = (
        f"{'part':<28}{'ms/image':>10}{'ms/batch':>11}{'images/s':>10}"
        f"{'peak MiB':>10}{'GFLOP/img':>11}{'MFU spec':>9}{'MFU meas':>9}{'other':>7}"
    )
    lines += [header, "-" * len(header)]
    for name in ("forward", "train_step", "generator_step"):
        entry = result.get(name)
        if not entry or "median_ms" not in entry:
            continue
        lines.append(
            f"{name:<28}{_fmt(entry.get('ms_per_image'), '10.1f')}"
            f"{_fmt(entry.get('median_ms'), '11.1f')}{_fmt(entry.get('images_per_s'), '10.2f')}"
            f"{_fmt(entry.get('peak_memory_bytes'), '10.0f', 2**20)}"
            f"{_fmt(entry.get('flops_per_image'), '11.2f', 1e9)}"
            f"{_fmt(entry.get('mfu_spec'), '9.1%')}{_fmt(entry.get('mfu_measured'), '9.1%')}"
            f"{_fmt(entry.get('other_cores'), '7.2f')}"
        )
        for phase, ms in entry.get("phases_ms", {}).items():
            lines.append(f"  {phase:<26}{'':>10}{ms:11.1f}")
    for entry in result.get("shift", []):
        label = f"shift {entry['size']}x{entry['size']} b{entry['batch_size']} c{entry['channels']}"
        if entry.get("method"):
            label += f" {entry['method']}"
        allocated = entry.get("allocated_peak_bytes")
        detail = f"tensors {allocated / 2**20:.0f} MiB, " if allocated is not None else ""
        detail += f"+{entry['extra_memory_bytes'] / 2**20:.0f} MiB over the start"
        if entry.get("shiftnet_style_ms") is not None:
            detail += (
                f"; Shift-Net-style op {entry['shiftnet_style_ms']:.1f} ms in the same run, "
                f"{entry['speedup_vs_shiftnet_style']:.1f}x"
            )
        peak_mib = entry["peak_memory_bytes"] / 2**20
        lines.append(
            f"{label:<28}{'':>10}{entry['median_ms']:11.1f}{'':>10}{peak_mib:10.0f}{'':>29}"
            f"{_fmt(entry.get('other_cores'), '7.2f')}  ({detail})"
        )
    if "peak" in result:
        lines += _peak_lines(result["peak"])
    for entry in result.get("data", []):
        lines.append(
            f"data loader size={entry['size']} workers={entry['num_workers']} "
            f"batch={entry['batch_size']}: {entry['samples_per_s']:.1f} samples/s "
            f"(start-up {entry['startup_s']:.2f} s)"
        )
    if "profile" in result:
        prof = result["profile"]
        lines.append(f"profile of one train step ({prof['step_ms']:.0f} ms, CPU times):")
        lines.append(f"  {'network part':<36}{'forward ms':>12}{'backward ms':>13}")
        for group, times in prof["groups"].items():
            lines.append(f"  {group:<36}{times['forward_ms']:12.1f}{times['backward_ms']:13.1f}")
        lines.append(f"  {'top operators':<52}{'calls':>7}{'self ms':>10}")
        for op in prof["top_ops"]:
            device_ms = f"{op['self_cuda_ms']:10.1f}" if "self_cuda_ms" in op else ""
            lines.append(
                f"  {op['name'][:52]:<52}{op['calls']:7d}{op['self_cpu_ms']:10.1f}{device_ms}"
            )
    return "\n".join(lines)
