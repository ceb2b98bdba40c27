"""Memory and machine load: peak memory of a block, CPU used by other processes, load."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

__all__ = ["OtherLoad", "PeakMemory", "cpu_allocated_peak_bytes", "loadavg"]


def _proc_status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux ``clear_refs`` 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_bytes() -> int:
    kib = _proc_status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    import resource  # Unix only: imported where the /proc fallback needs it

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _rss_bytes() -> int:
    kib = _proc_status_kib("VmRSS")
    return kib * 1024 if kib is not None else _peak_rss_bytes()


class PeakMemory:
    """Peak memory of the code inside ``with``: CUDA max allocated, or the CPU's peak RSS.

    ``peak_bytes`` is the peak inside the block (on the CPU the whole process's resident
    memory, libraries and weights included), ``extra_bytes`` the part above the level when
    the block started. On the CPU the peak is reset through ``/proc/self/clear_refs``; where
    that is not possible (not Linux) it is the process's peak so far (``reset`` False).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "cpu_peak_rss"
        self.base_bytes = self.peak_bytes = 0
        self.reset = True

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base_bytes = torch.cuda.memory_allocated(self.device)
        else:
            self.base_bytes = _rss_bytes()
            self.reset = _reset_peak_rss()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self.peak_bytes = _peak_rss_bytes()

    @property
    def extra_bytes(self) -> int:
        """Peak above the level at the start of the block."""
        return max(0, self.peak_bytes - self.base_bytes)

    def as_dict(self) -> dict[str, Any]:
        """The JSON fields."""
        return {
            "peak_memory_bytes": self.peak_bytes,
            "extra_memory_bytes": self.extra_bytes,
            "memory_kind": self.kind,
        }


def _cpu_busy_seconds() -> float | None:
    """Busy CPU seconds of the whole machine so far (all cores, Linux ``/proc/stat``)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """CPU used by *other* processes while the block ran, in cores (Linux only, else None).

    Machine-wide busy time (``/proc/stat``, hypervisor steal included) minus this process's
    CPU time, divided by the wall time. A value near 0 means the numbers were taken on an
    otherwise idle machine; data-loader worker processes count as "other".
    """

    def __enter__(self) -> OtherLoad:
        self.cores: float | None = None
        self._start = (time.perf_counter(), time.process_time(), _cpu_busy_seconds())
        return self

    def __exit__(self, *exc: object) -> None:
        wall0, own0, busy0 = self._start
        busy1 = _cpu_busy_seconds()
        wall = time.perf_counter() - wall0
        if busy0 is None or busy1 is None or wall <= 0:
            return
        other = (busy1 - busy0) - (time.process_time() - own0)
        self.cores = round(max(0.0, other) / wall, 2)


def cpu_allocated_peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes of CPU tensors allocated by ``fn()`` and alive at once (profiler memory).

    The CPU counterpart of CUDA's max allocated: what the tensors need, without the
    allocator's cached or fragmented pages that peak RSS also counts.
    """
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    changes = []
    for event in prof.events():
        delta = event.self_cpu_memory_usage
        if delta:
            at = event.time_range.start if delta > 0 else event.time_range.end
            changes.append((at, delta))
    live = peak = 0
    for _, delta in sorted(changes):
        live += delta
        peak = max(peak, live)
    return int(peak)


def loadavg() -> list[float] | None:
    """The 1/5/15-minute load averages, or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None
