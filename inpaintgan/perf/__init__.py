"""Performance measurement, the library under ``python -m inpaintgan.bench``.

One job per module: :mod:`~inpaintgan.perf.timing` (phase clocks, medians),
:mod:`~inpaintgan.perf.memory` (peak memory, other processes' load),
:mod:`~inpaintgan.perf.flops` (FLOPs, the device's measured peak rate),
:mod:`~inpaintgan.perf.peaks` (spec-sheet GPU peaks, math modes, MFU),
:mod:`~inpaintgan.perf.profile` (time per network part),
:mod:`~inpaintgan.perf.reference` (a Shift-Net-style shift op, the shift rows' yardstick),
:mod:`~inpaintgan.perf.table` (the printed summary),
:mod:`~inpaintgan.perf.steps` (settings, the variant, the timed steps: the module's own
``gan_step``) and :mod:`~inpaintgan.perf.run` (``run_bench``: every
configured part, one result). See docs/performance.md.
"""

from inpaintgan.perf.flops import count_flops
from inpaintgan.perf.run import PARTS, run_bench
from inpaintgan.perf.table import format_table

__all__ = ["PARTS", "count_flops", "format_table", "run_bench"]
