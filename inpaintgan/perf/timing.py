"""Timing: phase clocks (CUDA events on a GPU, ``perf_counter`` on the CPU) and medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Clock", "Timing", "measure"]


class Clock:
    """Phase boundaries of one run: CUDA events on a GPU, ``perf_counter`` on the CPU.

    ``mark()`` starts the run, ``mark(name)`` ends phase ``name``; :meth:`phases_ms`
    synchronises once and returns the duration of every phase.
    """

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list[tuple[str | None, Any]] = []

    def mark(self, name: str | None = None) -> None:
        """Record a boundary: the end of phase ``name`` (or the start, unnamed)."""
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append((name, event))
        else:
            self.marks.append((name, time.perf_counter()))

    def phases_ms(self) -> dict[str, float]:
        """Milliseconds of every phase (summed when a name repeats)."""
        if self.cuda:
            torch.cuda.synchronize()
        phases: dict[str, float] = {}
        for (_, start), (name, end) in zip(self.marks, self.marks[1:], strict=False):
            ms = start.elapsed_time(end) if self.cuda else (end - start) * 1e3
            phases[name or f"phase{len(phases)}"] = phases.get(name or "", 0.0) + ms
        return phases


@dataclass
class Timing:
    """Median and all runs of one measurement (ms per run; phases: median per phase)."""

    median_ms: float
    times_ms: list[float]
    phases_ms: dict[str, float]

    def as_dict(self, batch_size: int | None = None) -> dict[str, Any]:
        """The JSON fields; per-image figures when ``batch_size`` is given."""
        out: dict[str, Any] = {
            "median_ms": round(self.median_ms, 3),
            "times_ms": [round(t, 3) for t in self.times_ms],
        }
        if len(self.phases_ms) > 1:
            out["phases_ms"] = {k: round(v, 3) for k, v in self.phases_ms.items()}
        if batch_size:
            out["ms_per_image"] = round(self.median_ms / batch_size, 3)
            out["images_per_s"] = round(1e3 * batch_size / self.median_ms, 3)
        return out


def measure(
    step: Callable[[Clock], None], device: torch.device, warmup: int, repeats: int
) -> Timing:
    """Run ``step(clock)`` ``warmup`` times untimed, then ``repeats`` times timed.

    ``step`` calls ``clock.mark(name)`` after each of its phases; the run's time is the sum
    of its phases and the result holds the median run and the median of every phase.
    """
    for _ in range(warmup):
        clock = Clock(device)
        clock.mark()
        step(clock)
        clock.phases_ms()
    runs = []
    for _ in range(max(1, repeats)):
        clock = Clock(device)
        clock.mark()
        step(clock)
        runs.append(clock.phases_ms())
    totals = [sum(run.values()) for run in runs]
    phases = {name: statistics.median(run.get(name, 0.0) for run in runs) for name in runs[0]}
    return Timing(statistics.median(totals), totals, phases)
