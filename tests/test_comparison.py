"""Paired comparisons (inpaintgan.comparison) and the report's seed / pair tables (table1)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from scipy import stats

from inpaintgan.comparison import paired_difference, two_level_interval
from inpaintgan.errors import ReportError
from inpaintgan.table1 import report

PHOTOS = ["a", "b", "c", "d"]


def test_paired_difference_mean_interval_and_wins():
    a = [{"a": 20.0, "b": 22.0, "c": 25.0, "d": 21.0}]
    b = [{"a": 19.0, "b": 22.5, "c": 23.0, "d": 20.0}]
    diff = paired_difference("A", a, "B", b)
    values = [1.0, -0.5, 2.0, 1.0]
    mean = sum(values) / 4
    sd = (sum((v - mean) ** 2 for v in values) / 3) ** 0.5
    half = stats.t.ppf(0.975, 3) * sd / 2
    assert diff.mean == pytest.approx(mean)
    assert (diff.low, diff.high) == pytest.approx((mean - half, mean + half))
    assert (diff.wins, diff.losses, diff.ties, diff.n_photos) == (3, 1, 0, 4)


def test_seeds_pair_in_order_and_a_single_baseline_pairs_with_each():
    a = [{p: 10.0 + s for p in PHOTOS} for s in (0, 1, 2)]  # three seeds: +0, +1, +2
    b = [{p: 10.0 + s + 0.5 for p in PHOTOS} for s in (0, 1, 2)]
    diff = paired_difference("A", a, "B", b)
    assert diff.per_seed == pytest.approx((-0.5, -0.5, -0.5))
    assert diff.losses == 12 and diff.mean == pytest.approx(-0.5)
    baseline = [{p: 11.0 for p in PHOTOS}]
    diff = paired_difference("A", a, "T", baseline)
    assert diff.per_seed == pytest.approx((-1.0, 0.0, 1.0)) and diff.mean == pytest.approx(0.0)
    assert (diff.wins, diff.losses, diff.ties) == (4, 4, 4)
    with pytest.raises(ValueError, match="cannot pair 3 runs with 2"):
        paired_difference("A", a, "B", b[:2])
    with pytest.raises(ValueError, match="same images"):
        paired_difference("A", a, "B", [{"a": 1.0}])


def test_two_level_interval_counts_the_seed_spread_the_photo_interval_leaves_out():
    a = [{p: 10.0 + s for p in PHOTOS} for s in (0, 1, 2)]  # only a seed effect
    diff = paired_difference("A", a, "B", [{p: 10.0 for p in PHOTOS}])
    assert (diff.photo_low, diff.photo_high) == pytest.approx((1.0, 1.0))  # blind to seeds
    half = stats.t.ppf(0.975, 2) * (1.0 / 3) ** 0.5  # var of the 3 seed means = 1, df 2
    assert (diff.low, diff.high) == pytest.approx((1.0 - half, 1.0 + half))
    photo_only = [{"a": 1.0, "b": 3.0, "c": 2.0, "d": 6.0}] * 3  # only a photo effect
    same = paired_difference("A", photo_only, "B", [dict.fromkeys(PHOTOS, 0.0)])
    assert (same.low, same.high) == pytest.approx((same.photo_low, same.photo_high))


def test_two_level_interval_covers_the_true_mean_where_the_photo_one_does_not():
    """Simulated photos x seeds with a seed spread as large as ours: the two-level interval
    keeps ~95 % coverage; the photo-only one falls well short."""
    import numpy as np

    rng = np.random.default_rng(0)
    hits = {"two": 0, "photo": 0}
    trials = 400
    for _ in range(trials):
        photo = rng.normal(0, 0.45, 23)  # as paper − Shift-Net: photo SD ~0.45 dB
        seed = rng.normal(0, 0.3, 3)  # seed SD ~0.3 dB
        d = photo[None, :] + seed[:, None] + rng.normal(0, 0.3, (3, 23))
        mean, low, high = two_level_interval(d.tolist())
        hits["two"] += low <= 0 <= high
        per_photo = d.mean(0)
        half = stats.t.ppf(0.975, 22) * per_photo.std(ddof=1) / 23**0.5
        hits["photo"] += mean - half <= 0 <= mean + half
    assert 0.90 <= hits["two"] / trials <= 0.99
    assert hits["photo"] / trials < 0.85


def _run(folder: Path, name: str, psnr: list[float], ssim: list[float]) -> Path:
    folder.mkdir(parents=True)
    metrics = {"model": name, "name": name, "data": "scenes", "mask": "center",
               "psnr": sum(psnr) / len(psnr), "ssim": sum(ssim) / len(ssim)}  # fmt: skip
    (folder / "metrics.json").write_text(json.dumps(metrics))
    with (folder / "per_image.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "psnr", "ssim"])
        writer.writerows(zip(PHOTOS, psnr, ssim, strict=True))
    return folder


def test_report_averages_seeds_and_writes_pairs(tmp_path: Path):
    for seed, offset in enumerate((0.0, 1.0)):
        _run(tmp_path / f"paper_s{seed}", "paper", [21 + offset] * 4, [0.80 + offset / 10] * 4)
        _run(tmp_path / f"shiftnet_s{seed}", "shiftnet", [20 + offset] * 4, [0.8] * 4)
    _run(tmp_path / "telea", "telea", [22.0] * 4, [0.9] * 4)
    text = report([tmp_path], published=False, pairs=[["paper", "shiftnet"], ["paper", "telea"]])
    assert "| paper | center | 21.50 ± 0.71 (2) | 0.850 ± 0.071 (2) |" in text
    assert "| telea | center | 22.00 | 0.900 |" in text
    row = next(line for line in text.splitlines() if line.startswith("| paper − shiftnet"))
    assert "+1.00 [+1.00, +1.00]" in row and "| 8 / 8 |" in row and "+1.00, +1.00" in row
    row = next(line for line in text.splitlines() if line.startswith("| paper − telea"))
    assert "-0.50" in row and "-1.00, +0.00" in row
    with pytest.raises(ReportError, match="no run labelled 'ce'"):
        report([tmp_path], pairs=[["paper", "ce"]])
