"""Interleaved CPU timing of the shift op: the pre-issue-16 code (from git) against today's
``compact`` and ``dense`` methods, in one process, so machine noise hits all three alike.

    .venv/bin/python scripts/shift_methods.py [--rev a51b6d1] [--threads 2]

Prints the median per method and map size (batch 4, C = 256, central quarter hole).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from inpaintgan.models import shift


def old_shift_module(rev: str):
    """``inpaintgan/models/shift.py`` as it was at ``rev``, imported as a separate module."""
    source = subprocess.run(
        ["git", "show", f"{rev}:inpaintgan/models/shift.py"], check=True, capture_output=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "shift_before.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("shift_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="a51b6d1", help="git revision of the 'before' code")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    before = old_shift_module(args.rev)
    torch.manual_seed(0)
    for side, repeats in ((32, 21), (64, 7)):
        decoder, encoder = torch.randn(4, 256, side, side), torch.randn(4, 256, side, side)
        hole = torch.zeros(4, 1, side, side, dtype=torch.bool)
        hole[..., side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = True
        inputs = (decoder, encoder, hole)
        ops = {
            f"before ({args.rev})": partial(before.shift_known_to_hole, *inputs),
            "compact": partial(shift.shift_known_to_hole, *inputs, "compact"),
            "dense": partial(shift.shift_known_to_hole, *inputs, "dense"),
        }
        times: dict[str, list[float]] = {name: [] for name in ops}
        for _ in range(3):
            for op in ops.values():
                op()
        with torch.no_grad():
            for _ in range(repeats):
                for name, op in ops.items():
                    start = time.perf_counter()
                    op()
                    times[name].append(time.perf_counter() - start)
        medians = {k: sorted(v)[len(v) // 2] * 1e3 for k, v in times.items()}
        print(f"{side}x{side}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in medians.items()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
