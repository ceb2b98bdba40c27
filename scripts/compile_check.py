"""Compile check of scripts/gpu_check.sh: the generator under ``torch.compile(fullgraph=True)``
across several hole sizes, with the recompile count and the step time compiled vs eager.

    python scripts/compile_check.py                        # CUDA, paper model, 256², batch 8
    python scripts/compile_check.py --device cpu --tiny --backend eager   # the dry run

The step timed is the bench's Shift-Net generator step (:func:`inpaintgan.perf.steps.
generator_step`: ground-truth pass, masked forward, L1 + guidance backward, Adam), first
eager, then with the generator compiled in place (``nn.Module.compile(fullgraph=True)``),
on a centred hole of each ``--fractions`` (the image size stays the same, so a recompile
means the graph depends on the hole, e.g. the shift op's hole count). Recompiles are counted
with ``torch._dynamo``'s counters (graphs compiled minus one); their reasons go to stderr
(``TORCH_LOGS=recompiles``). A graph break fails the fullgraph compile and is reported.

Prints one JSON line ``compile_check {...}`` (what gpu_check.sh's summary reads) and exits
1 when the compile failed or recompiled more than ``--max-recompiles`` times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import torch
import torch._dynamo
from hydra import compose, initialize_config_dir

from inpaintgan.config import CONFIG_DIR
from inpaintgan.perf.steps import build_parts, generator_step, resolve_settings, synthetic_batch
from inpaintgan.perf.timing import measure

TINY = ["model.generator.base_channels=8", "model.discriminator.base_channels=8"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda | cpu")
    parser.add_argument("--model", default="paper", help="paper | shiftnet (needs a shift)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precision", default="auto", help="auto | 32 | bf16 | 16")
    parser.add_argument("--fractions", default="0.5,0.375,0.25", help="hole side / image side")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per hole size")
    parser.add_argument("--max-recompiles", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="networks at 8 base channels")
    return parser.parse_args(argv)


def time_steps(parts: Any, batches: list[dict], repeats: int) -> list[float]:
    """Median ms of the generator step on each batch (one untimed run first)."""
    settings = parts.settings
    return [
        measure(
            lambda clock, b=batch: generator_step(parts, b, clock), settings.device, 1, repeats
        ).median_ms
        for batch in batches
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    fractions = [float(f) for f in args.fractions.split(",")]
    overrides = [
        f"model={args.model}",
        f"size={args.size}",
        f"batch_size={args.batch_size}",
        f"device={args.device}",
        f"precision={args.precision}",
        *(TINY if args.tiny else []),
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="bench", overrides=overrides)
    settings = resolve_settings(cfg)
    if settings.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    parts = build_parts(cfg, settings)
    batches = [synthetic_batch(args.batch_size, args.size, f, settings) for f in fractions]
    result: dict[str, Any] = {
        "model": args.model,
        "size": args.size,
        "batch_size": args.batch_size,
        "precision": settings.precision,
        "backend": args.backend,
        "fractions": fractions,
        "hole_pixels": [int(b["mask"][0].sum()) for b in batches],
    }
    eager = time_steps(parts, batches, args.repeats)
    result["eager_ms"] = [round(t, 3) for t in eager]

    with_logs = getattr(torch._logging, "set_logs", None)
    if with_logs is not None:
        with_logs(recompiles=True)  # the reason of each recompile, on stderr
    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    counters.clear()
    parts.generator.compile(fullgraph=True, backend=args.backend)
    first_call_s: list[float] = []
    try:
        for batch in batches:  # the first call on each hole size: compiles when it must
            started = time.perf_counter()
            generator_step(parts, batch)
            if settings.device.type == "cuda":
                torch.cuda.synchronize()
            first_call_s.append(round(time.perf_counter() - started, 2))
            graphs = int(torch._dynamo.utils.counters["stats"]["unique_graphs"])
            print(  # progress: what a time-out would otherwise lose
                f"compile_check_progress hole {len(first_call_s)}/{len(batches)}: first call "
                f"{first_call_s[-1]:.1f} s, {graphs} graph(s) compiled so far",
                flush=True,
            )
        compiled = time_steps(parts, batches, args.repeats)
    except Exception as error:  # a graph break (fullgraph) or a compiler error: reported
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        result["error"] = f"{type(error).__name__}: {message}"[:300]
        compiled = []
    graphs = int(counters["stats"]["unique_graphs"])
    result["graphs"] = graphs
    result["recompiles"] = max(0, graphs - 1)
    result["first_call_s"] = first_call_s
    result["compiled_ms"] = [round(t, 3) for t in compiled]
    if compiled:
        result["eager_median_ms"] = round(statistics.median(eager), 3)
        result["compiled_median_ms"] = round(statistics.median(compiled), 3)
        result["speedup"] = round(statistics.median(eager) / statistics.median(compiled), 3)
    ok = "error" not in result and graphs >= 1 and result["recompiles"] <= args.max_recompiles
    result["ok"] = ok
    print("compile_check " + json.dumps(result), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
