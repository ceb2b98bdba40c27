"""`inpaintgan.evaluate` and `inpaintgan.report` end to end on the embedded sample photos."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import TINY_GENERATOR, run_cli
from helpers import compose_evaluate as _compose
from helpers import random_alexnet_file as _random_alexnet_file
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn

import inpaintgan.evaluation as evaluation_module
from inpaintgan.checkpoints import CheckpointError
from inpaintgan.data import image_to_float
from inpaintgan.errors import ReportError, UsageError
from inpaintgan.evaluation import evaluate
from inpaintgan.inpainter import Inpainter, load_inpainter
from inpaintgan.metrics import PSNR_CAP
from inpaintgan.models.base import GeneratorOutput
from inpaintgan.table1 import report


@pytest.fixture(autouse=True)
def _no_cached_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic: LPIPS / FID weights are never found (nor downloaded) in these tests."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


def _evaluate(overrides: list[str]) -> dict[str, Any]:
    cfg = _compose(overrides)
    return evaluate(cfg, cfg.hydra.runtime.choices)


def _strict_json(path: Path) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _ground_truth(overrides: list[str]) -> dict[str, np.ndarray]:
    """The test split's images as the data module serves them, by name (HWC, float64)."""
    cfg = _compose(overrides)
    mask = instantiate(cfg.mask)
    dataset = instantiate(cfg.data, mask=mask, seed=cfg.seed).dataset("test")
    samples = [dataset[i] for i in range(len(dataset))]
    return {
        s["name"]: image_to_float(s["image"]).permute(1, 2, 0).double().numpy() for s in samples
    }


def test_telea_on_the_sample_matches_scikit_image_on_the_saved_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "telea"
    summary = _evaluate(["model=telea", f"out={out}", "save_images=true", "batch_size=4"])
    metrics = _strict_json(out / "metrics.json")
    assert metrics == json.loads(json.dumps(summary))
    assert (metrics["model"], metrics["data"], metrics["mask"]) == ("telea", "sample", "center")
    assert (metrics["split"], metrics["size"], metrics["n_images"]) == ("test", 128, 6)
    assert metrics["checkpoint"] is None

    rows = _rows(out / "per_image.csv")
    assert len(rows) == 6 and {r["hole_ratio"] for r in rows} == {"0.250000"}
    truth = _ground_truth(["model=telea"])
    for row in rows:
        saved = np.asarray(Image.open(out / "images" / f"{row['name']}.png")).astype(np.float64)
        saved /= 255
        gt = truth[row["name"]]
        expected_psnr = peak_signal_noise_ratio(gt, saved, data_range=1.0)
        expected_ssim = structural_similarity(
            gt, saved, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            data_range=1.0, channel_axis=2,
        )  # fmt: skip
        assert float(row["psnr"]) == pytest.approx(expected_psnr, abs=1e-4)
        assert float(row["ssim"]) == pytest.approx(expected_ssim, abs=1e-5)
        known = np.ones(gt.shape[:2], bool)
        known[32:96, 32:96] = False  # the 64x64 center hole at 128x128
        assert np.abs(saved[known] - gt[known]).max() < 1e-6
    assert metrics["psnr"] == pytest.approx(np.mean([float(r["psnr"]) for r in rows]), abs=1e-5)
    assert metrics["ssim"] == pytest.approx(np.mean([float(r["ssim"]) for r in rows]), abs=1e-5)

    # LPIPS / FID are not asked for by default: nothing on stderr, nothing skipped.
    assert capsys.readouterr().err.strip() == ""
    assert metrics["skipped_metrics"] == {} and "lpips" not in metrics and "fid" not in metrics


def test_tiny_checkpoint_on_the_sample(tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "ckpt"
    summary = _evaluate(
        [
            f"ckpt={tiny_checkpoint}",
            f"out={out}",
            "batch_size=2",
            "max_images=4",
            "save_images=true",
        ]
    )
    assert summary["model"] == "paper" and summary["checkpoint"] == str(tiny_checkpoint)
    assert summary["n_images"] == 4 and len(list((out / "images").glob("*.png"))) == 4
    assert 0 < summary["psnr"] < PSNR_CAP and 0 < summary["ssim"] < 1
    assert 0 <= summary["hole_l1"] <= 1


class _Oracle(nn.Module):
    """Predicts the ground truth (it receives the undamaged image): a perfect output."""

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> GeneratorOutput:
        return GeneratorOutput(image=image.clone())


def test_perfect_output_scores_the_psnr_cap_and_ssim_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    oracle = Inpainter(_Oracle(), "oracle", torch.device("cpu"))
    monkeypatch.setattr(evaluation_module, "load_inpainter", lambda *args: oracle)
    _evaluate([f"out={tmp_path}", "max_images=3"])
    metrics = _strict_json(tmp_path / "metrics.json")  # no Infinity / NaN in the file
    assert metrics["psnr"] == PSNR_CAP == metrics["hole_psnr"] and metrics["psnr_cap"] == PSNR_CAP
    assert metrics["ssim"] == pytest.approx(1.0) and metrics["hole_l1"] == 0.0


def test_lpips_is_computed_from_the_weights_in_the_hub_cache(tmp_path: Path) -> None:
    _random_alexnet_file(Path(torch.hub.get_dir()) / "checkpoints" / "alexnet-owt-7be5be79.pth")
    out = tmp_path / "e"
    summary = _evaluate(["model=telea", f"out={out}", "max_images=2", "metrics=[psnr,ssim,lpips]"])
    rows = _rows(out / "per_image.csv")
    assert summary["lpips"] > 0 and summary["skipped_metrics"] == {}
    assert summary["lpips"] == pytest.approx(np.mean([float(r["lpips"]) for r in rows]), abs=1e-5)
    # the deprecated flag still works: lpips=true adds it, lpips=false removes it
    again = _evaluate(["model=telea", f"out={tmp_path / 'f'}", "max_images=2", "lpips=true"])
    assert again["lpips"] == pytest.approx(summary["lpips"])
    off = ["metrics=[psnr,ssim,lpips]", "lpips=false"]
    assert "lpips" not in _evaluate(["model=telea", f"out={tmp_path / 'g'}", "max_images=1", *off])


@pytest.mark.parametrize("metric", ["lpips", "fid"])
def test_lpips_or_fid_without_weights_is_refused_before_anything_is_written(
    metric: str, tmp_path: Path
) -> None:
    out = tmp_path / "e"
    with pytest.raises(UsageError) as refused:
        _evaluate(
            ["model=telea", f"out={out}", f"metrics=[psnr,ssim,{metric}]", "weights.download=false"]
        )
    line = str(refused.value)
    assert "\n" not in line and ".pth" in line and "hub" in line and f"weights.{metric}=" in line
    assert not (out / "metrics.json").exists()
    with pytest.raises(UsageError, match="metrics=psnr2: must be one of psnr, ssim, lpips, fid"):
        _evaluate(["model=telea", f"out={out}", "metrics=[psnr2]"])


def test_folder_data_evaluates_every_image_center_cropped(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "nested").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, (w, h) in {"a.png": (80, 60), "b.jpg": (64, 64), "nested/c.png": (50, 100)}.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / name)
    out = tmp_path / "eval"
    # `data.root` where the folder config exposes it at the top, else its source's root.
    key = "data.root" if "root" in _compose(["data=folder"]).data else "data.source.root"
    summary = _evaluate(["model=ns", "data=folder", f"{key}={root}", "data.size=32", f"out={out}"])
    assert (summary["split"], summary["n_images"], summary["size"]) == ("all", 3, 32)
    assert sorted(r["name"] for r in _rows(out / "per_image.csv")) == ["a", "b", "c"]


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nothing to run"):
        load_inpainter(None, None, "cpu")
    telea = _compose(["model=telea"]).model
    with pytest.raises(UsageError, match="not both"):
        load_inpainter(str(tmp_path / "x.pt"), telea, "cpu")
    trained_variant = OmegaConf.create({"name": "paper", "generator": TINY_GENERATOR})
    with pytest.raises(UsageError, match="needs trained weights"):
        load_inpainter(None, trained_variant, "cpu")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError) as info:
        load_inpainter(str(junk), None, "cpu")
    assert "junk.ckpt" in str(info.value) and "\n" not in str(info.value)


def test_report_gathers_runs_beside_the_published_table(tmp_path: Path) -> None:
    for model in ("telea", "ns"):
        _evaluate([f"model={model}", f"out={tmp_path / 'runs' / model}", "max_images=2"])
    table = report([tmp_path / "runs" / "telea", tmp_path / "runs" / "ns" / "metrics.json"])
    lines = table.splitlines()
    assert lines[0] == (
        "| model | mask | PSNR CelebA | PSNR Places2 | PSNR sample "
        "| SSIM CelebA | SSIM Places2 | SSIM sample |"
    )
    assert "| this paper (published) | center | 27.84 | 28.16 | – | 0.89 | 0.93 | – |" in lines
    telea = next(line for line in lines if line.startswith("| telea |"))
    psnr = json.loads((tmp_path / "runs" / "telea" / "metrics.json").read_text())["psnr"]
    assert f"| {psnr:.2f} |" in telea and telea.count("–") == 4
    assert any(line.startswith("| ns | center |") for line in lines)
    # A folder of runs is searched recursively; the table can be written to a file.
    assert report([tmp_path / "runs"], out=tmp_path / "t.md") == (tmp_path / "t.md").read_text()
    with pytest.raises(ReportError, match="no such run"):
        report([tmp_path / "missing"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.json").write_text("{")
    with pytest.raises(ReportError, match="not a readable metrics.json"):
        report([tmp_path / "bad"])


def test_cli_evaluate_and_report(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = run_cli(
        "inpaintgan.evaluate", "model=telea", f"out={out}", "max_images=2", "data.num_workers=0",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "psnr" in result.stdout and (out / "metrics.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval"]  # Hydra wrote into out only

    result = run_cli("inpaintgan.report", f"runs=[{out}]", f"out={tmp_path / 'table.md'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| telea | center |" in (tmp_path / "table.md").read_text()

    not_ckpt = tmp_path / "weights.ckpt"
    not_ckpt.write_text("hello")
    result = run_cli("inpaintgan.evaluate", f"ckpt={not_ckpt}", f"out={tmp_path / 'e2'}")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "weights.ckpt" in lines[0] and "Traceback" not in result.stderr
