"""`python -m inpaintgan.report runs=[DIR1,DIR2] out=table.md`: evaluation runs → Table 1.

Reads each run's ``metrics.json`` (written by ``inpaintgan.evaluate``; a folder is searched
recursively) and writes one row per (model, mask), with PSNR and SSIM columns per data set,
beside the paper's published numbers (several runs of one row, e.g. training seeds, read
"mean ± sd (n)"). ``pairs=[[paper,shiftnet],[paper,telea]]`` adds paired differences A − B
over the same photos and seeds; runs of ``evaluate mask=buckets`` add the hole-ratio bucket
table. Runs are only averaged or paired when they were scored alike. ``out`` is never one of
the runs' files, and an existing file is replaced only with ``overwrite=true``.

The tables are :func:`inpaintgan.table1.report` (Table 1's one home).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from inpaintgan.config import CONFIG_DIR
from inpaintgan.errors import ReportError, run_command
from inpaintgan.table1 import report


def _report(
    runs: list[str], out: str | None, published: bool, pairs: list[list[str]], overwrite: bool
) -> str:
    if not runs:
        raise ReportError("give the evaluation runs, e.g. runs=[eval/telea,eval/paper]")
    return report(runs, out, published=published, pairs=pairs, overwrite=overwrite)


@hydra.main(config_path=CONFIG_DIR, config_name="report", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: ``python -m inpaintgan.report runs=[DIR,...] out=table.md``."""
    runs = [cfg.runs] if isinstance(cfg.runs, str) else list(cfg.runs or [])
    pairs = [list(p) for p in cfg.get("pairs") or []]
    overwrite = bool(cfg.get("overwrite", False))
    text = run_command("report", _report, runs, cfg.out, cfg.published, pairs, overwrite)
    print(text if cfg.out is None else f"wrote {cfg.out}\n\n{text}", end="")


if __name__ == "__main__":
    main()
