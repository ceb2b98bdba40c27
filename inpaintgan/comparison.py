"""Paired comparisons of evaluation runs: model A − model B over the same photos and seeds.

Every evaluation scores the same photos with the same masks, so two models are compared photo
by photo. A model may have several runs (training seeds, one ``evaluate`` folder each); a
classical baseline has one. Runs are paired seed by seed (A's i-th run with B's i-th, both
sorted by folder, so ``paper_s1`` meets ``shiftnet_s1``: the same data order and masks), or
every run of A with B's single run.

Two intervals are given. The **two-level** one (the headline) treats photos and training seeds
as two crossed random factors: the differences ``d[seed, photo]`` are split by a two-way
ANOVA into photo, seed and residual mean squares, the variance of the grand mean is
``σ²_photo/P + σ²_seed/S + σ²_res/(P·S)`` (components clamped at 0), and its Student-t
interval uses Satterthwaite's degrees of freedom. It widens with the seed-to-seed spread, which
a photo-only interval leaves out. The **photo-only** one averages the seed pairs per photo
first and takes a Student-t interval over photos (what this module reported before; it
answers "for these trained networks, on new photos"). With one seed pair both are the same.
Wins and losses count (photo, seed) pairs; the mean difference of each seed pair is listed.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

__all__ = [
    "PairedDifference",
    "pair_header",
    "paired_difference",
    "read_per_image",
    "two_level_interval",
]


@dataclass(frozen=True)
class PairedDifference:
    """A − B for one metric: the mean with its two-level 95 % interval (photos × seeds,
    ``low``/``high``) and its photo-only one (``photo_low``/``photo_high``), wins / losses /
    ties over (photo, seed) pairs, and the mean difference of each seed pair."""

    a: str
    b: str
    metric: str
    mean: float
    low: float
    high: float
    wins: int
    losses: int
    ties: int
    n_photos: int
    per_seed: tuple[float, ...]
    photo_low: float = math.nan
    photo_high: float = math.nan

    def row(self, digits: int) -> list[str]:
        """Markdown cells: comparison, mean [two-level CI], [photo-only CI], wins, seed means
        (the columns of :func:`pair_header`)."""
        seeds = ", ".join(f"{v:+.{digits}f}" for v in self.per_seed)
        pairs = self.wins + self.losses + self.ties
        return [
            f"{self.a} − {self.b}",
            f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]",
            f"[{self.photo_low:+.{digits}f}, {self.photo_high:+.{digits}f}]",
            f"{self.wins} / {pairs}",
            seeds,
        ]


def pair_header(metric: str, unit: str = "") -> list[str]:
    """Column titles of :meth:`PairedDifference.row` after the first (``metric`` e.g. PSNR)."""
    unit = f" ({unit})" if unit else ""
    return [
        f"Δ{metric}{unit} [95 % CI, photos × seeds]",
        "[95 % CI, photos only]",
        "wins",
        f"Δ{metric} per seed",
    ]


def _t_half_width(variance: float, dof: float, confidence: float) -> float:
    if variance <= 0 or not math.isfinite(dof) or dof <= 0:
        return 0.0
    return float(stats.t.ppf(0.5 + confidence / 2, dof)) * math.sqrt(variance)


def two_level_interval(
    diffs: Sequence[Sequence[float]], confidence: float = 0.95
) -> tuple[float, float, float]:
    """Mean and interval of ``diffs[seed][photo]`` with photos and seeds as crossed random
    factors (module docstring): ``(mean, low, high)``. One seed: the photo-only t interval."""
    n_s, n_p = len(diffs), len(diffs[0])
    cells = [v for row in diffs for v in row]
    mean = sum(cells) / len(cells)
    if n_p < 2:
        return mean, mean, mean
    photo_means = [sum(row[i] for row in diffs) / n_s for i in range(n_p)]
    seed_means = [sum(row) / n_p for row in diffs]
    ms_photo = n_s * sum((m - mean) ** 2 for m in photo_means) / (n_p - 1)
    if n_s < 2:
        half = _t_half_width(ms_photo / n_p, n_p - 1, confidence)
        return mean, mean - half, mean + half
    ms_seed = n_p * sum((m - mean) ** 2 for m in seed_means) / (n_s - 1)
    residual = sum(
        (diffs[s][i] - photo_means[i] - seed_means[s] + mean) ** 2
        for s in range(n_s)
        for i in range(n_p)
    )
    dof = {"photo": n_p - 1, "seed": n_s - 1, "res": (n_p - 1) * (n_s - 1)}
    ms = {"photo": ms_photo, "seed": ms_seed, "res": residual / dof["res"]}
    # Var(mean) = Σ c_k · MS_k; a component whose estimate is negative is set to 0.
    cells_n = n_p * n_s
    coef = {"photo": 0.0, "seed": 0.0, "res": 1.0 / cells_n}
    for factor in ("photo", "seed"):
        if ms[factor] > ms["res"]:
            coef[factor] = 1.0 / cells_n
            coef["res"] -= 1.0 / cells_n
    variance = sum(coef[k] * ms[k] for k in ms)
    denominator = sum((coef[k] * ms[k]) ** 2 / dof[k] for k in ms if coef[k])
    satterthwaite = variance**2 / denominator if denominator > 0 else math.inf
    half = _t_half_width(variance, satterthwaite, confidence)
    return mean, mean - half, mean + half


def read_per_image(run: str | Path, metric: str) -> dict[str, float]:
    """``{image name: metric}`` from a run's per_image.csv (written by ``inpaintgan.evaluate``)."""
    path = Path(run) / "per_image.csv" if Path(run).is_dir() else Path(run)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or metric not in rows[0]:
        raise ValueError(f"{path}: no {metric!r} column")
    return {row["name"]: float(row[metric]) for row in rows}


def _pairs(a_runs: Sequence[dict[str, float]], b_runs: Sequence[dict[str, float]]):
    if len(b_runs) == 1:
        return [(a, b_runs[0]) for a in a_runs]
    if len(a_runs) == 1:
        return [(a_runs[0], b) for b in b_runs]
    if len(a_runs) != len(b_runs):
        raise ValueError(
            f"cannot pair {len(a_runs)} runs with {len(b_runs)}: give one run or one per seed"
        )
    return list(zip(a_runs, b_runs, strict=True))


def paired_difference(
    a: str,
    a_runs: Sequence[dict[str, float]],
    b: str,
    b_runs: Sequence[dict[str, float]],
    metric: str = "psnr",
    confidence: float = 0.95,
) -> PairedDifference:
    """A − B on ``metric`` from per-image values (one dict per run, see :func:`read_per_image`).

    Every run must hold the same photos. ``low``/``high``: the two-level interval over photos
    and seeds (:func:`two_level_interval`); ``photo_low``/``photo_high``: Student-t over photos
    of the seed-averaged differences (zero width with a single photo).
    """
    if not a_runs or not b_runs:
        raise ValueError(f"{a} − {b}: each side needs at least one run")
    photos = sorted(a_runs[0])
    for run in (*a_runs, *b_runs):
        if sorted(run) != photos:
            raise ValueError(f"{a} − {b}: the runs did not score the same images")
    pairs = _pairs(a_runs, b_runs)
    diffs = [[ra[p] - rb[p] for p in photos] for ra, rb in pairs]  # [seed][photo]
    per_photo = [sum(d[i] for d in diffs) / len(diffs) for i in range(len(photos))]
    n = len(per_photo)
    mean = sum(per_photo) / n
    if n > 1:
        sd = math.sqrt(sum((v - mean) ** 2 for v in per_photo) / (n - 1))
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    else:
        half = 0.0
    flat = [v for d in diffs for v in d]
    _, low, high = two_level_interval(diffs, confidence)
    return PairedDifference(
        a=a,
        b=b,
        metric=metric,
        mean=mean,
        low=low,
        high=high,
        photo_low=mean - half,
        photo_high=mean + half,
        wins=sum(v > 0 for v in flat),
        losses=sum(v < 0 for v in flat),
        ties=sum(v == 0 for v in flat),
        n_photos=n,
        per_seed=tuple(sum(d) / len(d) for d in diffs),
    )
