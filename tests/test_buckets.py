"""Hole-ratio buckets and LaMa's mask presets; `evaluate mask=buckets` end to end.

The LPIPS column of the end-to-end test comes from a RANDOMLY INITIALISED AlexNet (a weights
file the test writes): it checks the plumbing per bucket, not the values.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import compose_evaluate
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image
from rich.console import Console

from inpaintgan.config import CONFIG_DIR
from inpaintgan.data.buckets import BUCKETS, BucketMasks, bucket_name
from inpaintgan.data.masks import HoleRatioMask, LamaMask
from inpaintgan.errors import DataError
from inpaintgan.evaluation import evaluate, print_summary

CONF = Path(CONFIG_DIR) / "mask"


@pytest.fixture(autouse=True)
def _one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(1)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no cached weights


@pytest.mark.parametrize("bucket", BUCKETS, ids=[bucket_name(*b) for b in BUCKETS])
def test_hole_ratio_masks_fall_in_their_bucket(bucket: tuple[float, float]) -> None:
    lo, hi = bucket
    generator = HoleRatioMask(bucket)
    rng = np.random.default_rng(0)
    ratios = []
    for size in (64, 128):
        for _ in range(8):
            mask = generator(size, size, rng)
            assert mask.shape == (size, size) and mask.dtype == np.float32
            assert set(np.unique(mask)) <= {0.0, 1.0}
            ratios.append(float(mask.mean()))
    assert all(lo < r <= hi for r in ratios)
    assert max(ratios) - min(ratios) > 0.01  # spread over the bucket, not one fixed mask


def test_hole_ratio_mask_refuses_an_impossible_range() -> None:
    with pytest.raises(ValueError, match="empty"):
        HoleRatioMask((0.5, 0.4))
    with pytest.raises(ValueError, match="0 <= lo < hi <= 1"):
        HoleRatioMask((0.5, 1.5))
    with pytest.raises(RuntimeError, match="no mask with a hole ratio"):
        HoleRatioMask((0.999, 1.0), max_tries=3)(32, 32, np.random.default_rng(0))


def test_bucket_masks_are_written_once_and_the_same_seed_gives_the_same_files(
    tmp_path: Path,
) -> None:
    first, second = BucketMasks(tmp_path / "a"), BucketMasks(tmp_path / "b")
    assert first.names == ["0-10", "10-20", "20-30", "30-40", "40-50", "50-60"]
    for name in first.names:
        lo, hi = first.ranges[name]
        for index in range(2):
            mask = first.mask(name, index, 64, 64, seed=42)
            assert lo < mask.mean() <= hi
            second.mask(name, index, 64, 64, seed=42)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.png"))
    assert files_a == files_b and len(files_a) == 12
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()

    # 1 = missing = white in the file; the file is read back, never drawn again
    path = first.path("30-40", 0, 64, 64, 42)
    pixels = np.asarray(Image.open(path))
    assert set(np.unique(pixels)) <= {0, 255}
    mask = first.mask("30-40", 0, 64, 64, 42)
    assert np.array_equal(mask, (pixels == 255).astype(np.float32))
    stamp = path.stat().st_mtime_ns
    BucketMasks(tmp_path / "a").mask("30-40", 0, 64, 64, 42)
    assert path.stat().st_mtime_ns == stamp

    other = BucketMasks(tmp_path / "c").mask("30-40", 0, 64, 64, seed=7)
    assert not np.array_equal(other, mask)  # another seed, other holes


def test_a_mask_file_outside_its_bucket_is_named(tmp_path: Path) -> None:
    buckets = BucketMasks(tmp_path)
    buckets.mask("0-10", 0, 32, 32, 0)
    path = buckets.path("0-10", 0, 32, 32, 0)
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(path)
    with pytest.raises(DataError, match=f"{path}.*outside its bucket") as refused:
        buckets.mask("0-10", 0, 32, 32, 0)
    assert "\n" not in str(refused.value)
    manifest = buckets.folder(32, 32, 1) / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"generator": "something else"}))
    with pytest.raises(DataError, match="something else"):
        buckets.mask("0-10", 0, 32, 32, 1)


def test_lama_presets_thin_medium_thick() -> None:
    means = {}
    for preset in ("thin", "medium", "thick"):
        generator = instantiate(OmegaConf.load(CONF / f"{preset}.yaml"))
        assert isinstance(generator, LamaMask)
        masks = [generator(128, 128, np.random.default_rng(i)) for i in range(20)]
        assert all(m.any() and set(np.unique(m)) <= {0.0, 1.0} for m in masks)
        again = generator(128, 128, np.random.default_rng(3))
        assert np.array_equal(again, masks[3])
        means[preset] = float(np.mean([m.mean() for m in masks]))
    assert 0 < means["thin"] < 0.6 and 0 < means["thick"] < 0.8
    with pytest.raises(ValueError, match="unknown preset"):
        LamaMask("huge")


def test_evaluate_buckets_with_lpips_writes_per_bucket_metrics(
    tmp_path: Path, tiny_checkpoint: Path, random_alexnet: Path
) -> None:
    out = tmp_path / "eval"
    cfg = compose_evaluate(
        [
            f"ckpt={tiny_checkpoint}",
            "mask=buckets",
            f"mask.root={tmp_path / 'masks'}",
            "metrics=[psnr,ssim,lpips]",
            f"weights.lpips={random_alexnet}",  # RANDOM AlexNet: plumbing only
            "max_images=2",
            f"out={out}",
        ]
    )
    summary = evaluate(cfg, cfg.hydra.runtime.choices)
    assert summary["mask"] == "buckets" and summary["n_images"] == 2
    assert list(summary["buckets"]) == [bucket_name(*b) for b in BUCKETS]
    for entry in summary["buckets"].values():
        lo, hi = entry["range"]
        assert entry["n_images"] == 2 and lo < entry["hole_ratio"] <= hi
        assert 0 < entry["psnr"] < 100 and 0 < entry["ssim"] < 1 and entry["lpips"] > 0
    assert json.loads((out / "metrics.json").read_text())["buckets"] == summary["buckets"]
    with (out / "per_image.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12 and list(rows[0])[:2] == ["name", "bucket"] and "lpips" in rows[0]
    # the holes are the files on disk: a second model sees exactly these
    stored = sorted((tmp_path / "masks").rglob("*.png"))
    assert len(stored) == 12
    for row in rows:
        lo, hi = summary["buckets"][row["bucket"]]["range"]
        assert lo < float(row["hole_ratio"]) <= hi

    console = Console(width=200, record=True)
    print_summary(summary, out, console=console)
    text = console.export_text()
    assert "0-10 %" in text and "50-60 %" in text and "lpips" in text


def _bucket_run(folder: Path, model: str, psnr: float, fid: float | None = None) -> Path:
    """A metrics.json of `evaluate mask=buckets` (two buckets), written by hand."""
    entry: dict[str, Any] = {"range": [0.0, 0.1], "n_images": 23, "psnr": psnr, "ssim": 0.9}
    if fid is not None:
        entry.update(lpips=0.05, fid=fid, fid_images=23)
    second = {**entry, "range": [0.1, 0.2], "psnr": psnr - 3}
    metrics = {
        "model": model, "data": "folder", "mask": "buckets", "split": "test", "size": 128,
        "seed": 42, "psnr": psnr - 1.5, "ssim": 0.9, "n_images": 23,
        "buckets": {"0-10": entry, "10-20": second},
    }  # fmt: skip
    if fid is not None:
        metrics.update(fid=fid, fid_images=23)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_report_has_one_column_group_per_bucket_and_says_needs_weights(tmp_path: Path) -> None:
    from inpaintgan.report import report

    runs = [
        _bucket_run(tmp_path / "telea", "telea", 30.0),
        _bucket_run(tmp_path / "paper", "paper", 33.0, fid=12.5),
    ]
    text = report(runs, published=False)
    header = next(line for line in text.splitlines() if line.startswith("| model | data |"))
    assert header.split(" | ")[2:6] == [
        "PSNR (0, 10] %", "SSIM (0, 10] %", "LPIPS (0, 10] %", "FID (0, 10] %",
    ]  # fmt: skip
    assert "PSNR (10, 20] %" in header
    telea = next(line for line in text.splitlines() if line.startswith("| telea | folder |"))
    assert telea.split(" | ")[2:6] == ["30.00", "0.900", "needs weights", "needs weights"]
    paper = next(
        line for line in text.splitlines() if line.startswith("| this paper (ours) | folder |")
    )
    assert "12.5 (n=23)" in paper and "0.050" in paper
    assert "FID over 23 images" in text and "biased upwards" in text


def test_evaluate_buckets_with_fid_reports_it_per_bucket_with_its_image_count(
    tmp_path: Path, random_inception: Path
) -> None:
    # A RANDOMLY INITIALISED Inception (conftest): the plumbing, not the values.
    cfg = compose_evaluate(
        [
            "model=mean_fill",
            "mask=buckets",
            f"mask.root={tmp_path / 'masks'}",
            "mask.buckets=[[0.0,0.1],[0.3,0.4]]",
            "metrics=[psnr,ssim,fid]",
            f"weights.fid={random_inception}",
            "max_images=3",
            f"out={tmp_path / 'eval'}",
        ]
    )
    summary = evaluate(cfg, cfg.hydra.runtime.choices)
    small, large = summary["buckets"]["0-10"], summary["buckets"]["30-40"]
    assert small["fid_images"] == large["fid_images"] == summary["fid_images"] == 3
    assert 0 < small["fid"] < large["fid"]  # a mean fill of small holes is closer to the photos
    assert summary["fid"] == pytest.approx((small["fid"] + large["fid"]) / 2)
