"""The robustness matrix: how a model trained on one mask kind scores on the others.

Rows are training mask kinds (``center``, ``irregular``, ``mixed``, ``thick``: one model
each, trained by ``python -m inpaintgan.train -m +sweep=robustness``) and the classical fills
(``telea``, ``ns``, ``mean_fill``: no training, the floor), columns the test mask
kinds and the hole-ratio buckets (``evaluate mask=buckets``). :func:`sweep_jobs` finds the
trained checkpoints of a finished sweep, :func:`score_matrix` evaluates each of them on each
test mask (in process, through :func:`inpaintgan.evaluation.evaluate`; one run folder per
cell, ``out/<train>/<test>/metrics.json``), :func:`read_matrix` reads the cells back,
:func:`matrix_markdown` and :func:`heatmap` show them. ``scripts/robustness_matrix.py``
runs it all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from inpaintgan.errors import ReportError, UsageError
from inpaintgan.io import atomic_path

TRAIN_MASKS = ("center", "irregular", "mixed", "thick")
"""The rows: the training mask kinds of ``conf/sweep/robustness.yaml``."""
TEST_MASKS = ("center", "irregular", "mixed", "thick", "buckets")
"""The columns: test mask configs (``buckets`` expands into one column per bucket)."""
METRIC_TITLES = {"psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS", "hole_l1": "hole L1"}
LOWER_IS_BETTER = {"lpips", "fid", "hole_l1"}


def job_mask(job: Path) -> str | None:
    """The training mask choice of one multirun job folder (its ``.hydra/hydra.yaml``)."""
    hydra_file = job / ".hydra" / "hydra.yaml"
    if not hydra_file.is_file():
        return None
    record = yaml.safe_load(hydra_file.read_text()) or {}
    return ((record.get("hydra") or {}).get("runtime") or {}).get("choices", {}).get("mask")


def sweep_jobs(sweep: str | Path) -> dict[str, Path]:
    """``{training mask: checkpoint}`` of a finished ``+sweep=robustness`` multirun folder
    (each job's ``checkpoints/last.ckpt``); a job without a checkpoint is named in one line."""
    root = Path(sweep)
    if not root.is_dir():
        raise UsageError(f"sweep={root}: no such folder (a finished training multirun)")
    jobs: dict[str, Path] = {}
    for job in sorted(p for p in root.iterdir() if p.is_dir()):
        mask = job_mask(job)
        if mask is None:
            continue
        ckpt = job / "checkpoints" / "last.ckpt"
        if not ckpt.is_file():
            raise UsageError(f"{job}: training job (mask {mask}) has no checkpoints/last.ckpt")
        if mask in jobs:
            raise UsageError(f"{root}: two jobs trained on mask {mask} ({jobs[mask]}, {ckpt})")
        jobs[mask] = ckpt
    if not jobs:
        raise UsageError(f"{root}: no training job folders (.hydra/hydra.yaml) in it")
    return dict(sorted(jobs.items(), key=lambda kv: _order(kv[0], TRAIN_MASKS)))


def _order(name: str, known: Sequence[str]) -> tuple[int, str]:
    return (known.index(name) if name in known else len(known), name)


BASELINES = ("telea", "ns", "mean_fill")
"""Classical fills scored beside the trained rows (no training mask: the floor to clear)."""


def score_matrix(
    jobs: dict[str, Path],
    out: str | Path,
    test_masks: Sequence[str] = TEST_MASKS,
    overrides: Sequence[str] = (),
    overwrite: bool = False,
    baselines: Sequence[str] = BASELINES,
) -> list[Path]:
    """Evaluate each checkpoint of ``jobs`` (and each classical ``baselines`` model) on each
    of ``test_masks``; ``overrides`` are evaluate's options (data, split, metrics, ...).
    Returns the metrics.json paths."""
    from hydra import compose, initialize_config_dir

    from inpaintgan.config import CONFIG_DIR
    from inpaintgan.evaluation import evaluate

    rows = [(name, f"ckpt={ckpt}") for name, ckpt in jobs.items()]
    rows += [(name, f"model={name}") for name in baselines]
    written = []
    for train_mask, source in rows:
        for test_mask in test_masks:
            cell = Path(out) / train_mask / test_mask
            options = [
                source,
                f"mask={test_mask}",
                f"name={train_mask}",
                f"out={cell}",
                f"overwrite={str(overwrite).lower()}",
                "progress=false",
                *overrides,
            ]
            with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
                cfg = compose(config_name="evaluate", overrides=options, return_hydra_config=True)
            evaluate(cfg, cfg.hydra.runtime.choices)
            written.append(cell / "metrics.json")
    return written


@dataclass
class Matrix:
    """Scores of one metric: ``values[row][column]`` (None where a cell is missing)."""

    metric: str
    rows: list[str]
    columns: list[str]
    values: list[list[float | None]]


def read_matrix(out: str | Path, metric: str = "psnr") -> Matrix:
    """The matrix of ``metric`` from ``out/<train>/<test>/metrics.json``; a ``buckets`` run
    gives one column per bucket (``buckets 0-10`` ...)."""
    root = Path(out)
    cells: dict[tuple[str, str], float | None] = {}
    rows: list[str] = []
    columns: list[str] = []
    for path in sorted(root.glob("*/*/metrics.json")):
        train_mask, test_mask = path.parent.parent.name, path.parent.name
        try:
            run: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ReportError(f"{path}: not a readable metrics.json ({err})") from None
        if train_mask not in rows:
            rows.append(train_mask)
        entries = (
            {f"buckets {k}": v for k, v in run["buckets"].items()}
            if run.get("buckets")
            else {test_mask: run}
        )
        for column, entry in entries.items():
            if column not in columns:
                columns.append(column)
            cells[(train_mask, column)] = entry.get(metric)
    if not cells:
        raise ReportError(f"{root}: no <train mask>/<test mask>/metrics.json below it")
    rows.sort(key=lambda r: _order(r, TRAIN_MASKS + BASELINES))
    kinds = [c for c in columns if not c.startswith("buckets ")]
    buckets = sorted(
        (c for c in columns if c.startswith("buckets ")),
        key=lambda c: float(c.split()[1].split("-")[0]),
    )
    columns = sorted(kinds, key=lambda c: _order(c, TEST_MASKS)) + buckets
    values = [[cells.get((r, c)) for c in columns] for r in rows]
    return Matrix(metric, rows, columns, values)


def _column_title(column: str) -> str:
    if column.startswith("buckets "):
        lo, hi = column.split()[1].split("-")
        return f"({lo}, {hi}] %"
    return column


def matrix_markdown(matrix: Matrix, digits: int | None = None) -> str:
    """Markdown table: rows "trained on", columns "scored on"; the best row of each column
    in bold (highest, or lowest for LPIPS / FID / hole L1)."""
    digits = digits if digits is not None else (2 if matrix.metric.endswith("psnr") else 3)
    header = ["trained on ↓ / scored on →", *(_column_title(c) for c in matrix.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    pick = min if matrix.metric in LOWER_IS_BETTER else max
    best = []
    for j in range(len(matrix.columns)):
        column = [row[j] for row in matrix.values if row[j] is not None]
        best.append(pick(column) if column else None)
    for name, row in zip(matrix.rows, matrix.values, strict=True):
        cells = []
        for j, value in enumerate(row):
            text = "–" if value is None else f"{value:.{digits}f}"
            cells.append(f"**{text}**" if value is not None and value == best[j] else text)
        lines.append("| " + " | ".join([name, *cells]) + " |")
    return "\n".join(lines) + "\n"


def column_means(data: Any) -> Any:
    """Each column's mean over the rows that have a value (NaN for an empty column), as a
    ``(1, columns)`` array that broadcasts against ``data``."""
    import numpy as np

    counts = np.isfinite(data).sum(axis=0, keepdims=True)
    totals = np.nansum(data, axis=0, keepdims=True)
    return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def heatmap(matrix: Matrix, path: str | Path, title: str | None = None) -> Path:
    """The matrix as a heat-map PNG (matplotlib, ``pip install matplotlib``). Each cell is
    annotated with its value and coloured by its difference from its column's mean: columns
    differ far more in difficulty (a 5 % hole against a 55 % one) than rows do within a
    column, and the rows are what the figure compares. Empty cells grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    data = np.array(
        [[np.nan if v is None else v for v in row] for row in matrix.values], dtype=float
    )
    width = 1.2 + 0.9 * len(matrix.columns)
    fig, ax = plt.subplots(figsize=(width, 1.0 + 0.6 * len(matrix.rows)), dpi=120)
    relative = data - column_means(data)
    limit = float(np.nanmax(np.abs(relative))) if np.isfinite(relative).any() else 1.0
    name = "RdYlGn_r" if matrix.metric in LOWER_IS_BETTER else "RdYlGn"
    cmap = plt.get_cmap(name).with_extremes(bad="#dddddd")
    image = ax.imshow(
        np.ma.masked_invalid(relative), cmap=cmap, aspect="auto", vmin=-limit, vmax=limit
    )
    ax.set_xticks(range(len(matrix.columns)), [_column_title(c) for c in matrix.columns])
    ax.set_yticks(range(len(matrix.rows)), matrix.rows)
    plt.setp(ax.get_xticklabels(), rotation=35, ha="right")
    ax.set_xlabel("scored on (test mask / hole-ratio bucket)")
    ax.set_ylabel("trained on")
    digits = 1 if matrix.metric.endswith("psnr") else 3
    for i in range(len(matrix.rows)):
        for j in range(len(matrix.columns)):
            if not np.isnan(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.{digits}f}", ha="center", va="center", fontsize=7)
    metric_title = METRIC_TITLES.get(matrix.metric, matrix.metric)
    fig.colorbar(image, ax=ax, label=f"{metric_title}: difference from the column mean")
    ax.set_title(title or f"robustness: {metric_title}")
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return path
