"""Paired comparisons of evaluation runs: model A − model B over the same photos and seeds.

Every evaluation scores the same photos with the same masks, so two models are compared photo
by photo. A model may have several runs (training seeds, one ``evaluate`` folder each); a
classical baseline has one. Runs are paired seed by seed (A's i-th run with B's i-th, both
sorted by folder, so ``paper_s1`` meets ``shiftnet_s1``: the same data order and masks), or
every run of A with B's single run.

The interval treats photos as the independent units: per photo, the difference is averaged
over the seed pairs, and a Student-t 95 % interval is taken over photos. Wins and losses
count (photo, seed) pairs. The spread between seeds is reported beside it (the mean
difference of each seed pair).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

__all__ = ["PairedDifference", "paired_difference", "read_per_image"]


@dataclass(frozen=True)
class PairedDifference:
    """A − B for one metric: mean with a 95 % interval over photos, wins / losses / ties over
    (photo, seed) pairs, and the mean difference of each seed pair."""

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

    def row(self, digits: int) -> list[str]:
        """Markdown cells: comparison, mean [low, high], wins / pairs, seed means."""
        seeds = ", ".join(f"{v:+.{digits}f}" for v in self.per_seed)
        pairs = self.wins + self.losses + self.ties
        return [
            f"{self.a} − {self.b}",
            f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]",
            f"{self.wins} / {pairs}",
            seeds,
        ]


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

    Every run must hold the same photos; the interval is Student-t over photos of the
    seed-averaged differences (zero width with a single photo).
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
    return PairedDifference(
        a=a,
        b=b,
        metric=metric,
        mean=mean,
        low=mean - half,
        high=mean + half,
        wins=sum(v > 0 for v in flat),
        losses=sum(v < 0 for v in flat),
        ties=sum(v == 0 for v in flat),
        n_photos=n,
        per_seed=tuple(sum(d) / len(d) for d in diffs),
    )
