"""The robustness matrix: each training mask kind (rows) scored on each test mask kind and
hole-ratio bucket (columns), as markdown tables and heat maps.

    # 1. train the rows (one model per training mask; small scale: hours per row on 2 cores)
    python -m inpaintgan.train -m +experiment=scenes_small +sweep=robustness
    # 2. score the columns and draw the matrix (options after -- go to evaluate)
    .venv/bin/python scripts/robustness_matrix.py --sweep multirun/<date>/<time>-<suffix> \\
        --out eval/robustness -- data=folder data.root=../shared/data/scenes data.size=128 \\
        data.source.split=fraction data.source.unit=scene data.source.val_fraction=0.0885 \\
        data.source.test_fraction=0.2035 data.source.seed=0 split=test data.num_workers=0

``--train "OVERRIDES"`` runs step 1 first (``python -m inpaintgan.train -m +sweep=robustness
OVERRIDES hydra.sweep.dir=<out>/train``). Writes ``<out>/<train>/<test>/`` (one evaluation
run each), ``<out>/matrix_<metric>.md`` and ``<out>/matrix_<metric>.png`` per ``--metrics``.
User mistakes are one line and exit code 2.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from inpaintgan.errors import UserError
from inpaintgan.io import write_atomically
from inpaintgan.robustness import (
    BASELINES,
    TEST_MASKS,
    heatmap,
    matrix_markdown,
    read_matrix,
    score_matrix,
    sweep_jobs,
)


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    overrides: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, overrides = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", help="finished training multirun folder of +sweep=robustness")
    parser.add_argument("--train", help="train the rows first with these train overrides")
    parser.add_argument("--out", required=True, help="folder of the evaluations and matrices")
    parser.add_argument("--columns", default=",".join(TEST_MASKS), help="test mask configs")
    parser.add_argument("--metrics", default="psnr,ssim", help="matrices to draw")
    parser.add_argument(
        "--baselines", default=",".join(BASELINES), help="classical rows ('' for none)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace earlier evaluations")
    args = parser.parse_args(argv)
    if not args.sweep and args.train is None:
        parser.error("give --sweep DIR (a finished training sweep) or --train OVERRIDES")
    return args, overrides


def train_rows(out: Path, overrides: str) -> Path:
    """Run the training sweep (one job per training mask) into ``out/train``."""
    sweep = out / "train"
    command = [
        sys.executable, "-m", "inpaintgan.train", "-m", "+sweep=robustness",
        *shlex.split(overrides), f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise UserError(
            f"the training sweep failed (exit {result.returncode}): {shlex.join(command)}"
        )
    return sweep


def run(argv: list[str]) -> str:
    args, overrides = parse(argv)
    out = Path(args.out)
    sweep = Path(args.sweep) if args.sweep else train_rows(out, args.train)
    jobs = sweep_jobs(sweep)
    columns = [c for c in args.columns.split(",") if c]
    baselines = [b for b in args.baselines.split(",") if b]
    score_matrix(jobs, out, columns, overrides, overwrite=args.overwrite, baselines=baselines)
    text = ""
    for metric in [m for m in args.metrics.split(",") if m]:
        matrix = read_matrix(out, metric)
        table = matrix_markdown(matrix)
        write_atomically(out / f"matrix_{metric}.md", lambda tmp, t=table: tmp.write_text(t))
        heatmap(matrix, out / f"matrix_{metric}.png")
        text += f"\n{metric} (rows: trained on; columns: scored on)\n\n{table}"
    return text


def main() -> None:
    try:
        print(run(sys.argv[1:]), end="")
    except UserError as err:
        print(f"robustness_matrix: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
