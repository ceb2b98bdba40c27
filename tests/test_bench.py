"""`python -m inpaintgan.bench` on a tiny config: every field present and sane.

No timing is asserted (numbers belong in docs/performance.md), only that each measurement
exists, is positive, and that FLOP counting scales with the image area.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import run_cli
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from inpaintgan.config import CONFIG_DIR
from inpaintgan.perf import PARTS, count_flops, format_table, run_bench

# Small enough for a CPU run of every part in a few seconds.
TINY = [
    "size=64",
    "batch_size=1",
    "device=cpu",
    "precision=32",
    "threads=2",
    "warmup=0",
    "repeats=1",
    "model.generator.base_channels=8",
    "model.discriminator.base_channels=8",
    "shift.sizes=[8,16]",
    "loader.sizes=[64]",
    "loader.workers=[0]",
    "loader.batch_size=2",
    "loader.batches=2",
    "loader.warmup_batches=1",
]


def compose_bench(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="bench", overrides=overrides)


def _positive(entry: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(entry[key], int | float) and entry[key] > 0, (key, entry.get(key))


def test_cli_prints_table_writes_json_and_leaves_no_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run_cli("inpaintgan.bench", *TINY, f"out={out}", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]  # no outputs/, .hydra
    for row in ("forward", "train_step", "generator_step", "shift 8x8", "peak (float32)", "data"):
        assert row in result.stdout

    data = json.loads(out.read_text())
    assert data["config"]["model"] == "paper" and data["config"]["size"] == 64
    assert data["config"]["parts"] == list(PARTS)
    assert data["command"].startswith("python -m inpaintgan.bench size=64")
    assert len(data["loadavg_start"]) == 3 and data["environment"]["threads"] == 2
    _positive(data["parameters"], "generator", "discriminator")
    for name in ("forward", "train_step", "generator_step"):
        entry = data[name]
        _positive(entry, "median_ms", "ms_per_image", "images_per_s", "peak_memory_bytes")
        _positive(entry, "flops_per_image")
        assert entry["memory_kind"] == "cpu_peak_rss" and len(entry["times_ms"]) == 1
        assert entry["other_cores"] is None or entry["other_cores"] >= 0
    assert set(data["train_step"]["phases_ms"]) == {
        "G forward",
        "D step",
        "G losses forward",
        "G backward + Adam",
    }
    assert set(data["generator_step"]["phases_ms"]) == {
        "guidance target",
        "forward",
        "backward",
        "adam",
    }
    _positive(data["generator_step"], "without_adam_ms")
    # Training costs more than inference: D step, backward, VGG16 style loss.
    assert data["train_step"]["flops_per_image"] > 3 * data["forward"]["flops_per_image"]
    _positive(data["train_step"], "mfu", "achieved_flops_per_s")
    _positive(data["peak"], "flops_per_s", "matmul_flops_per_s", "conv_flops_per_s")
    assert data["peak"]["flops_per_s"] >= data["peak"]["conv_flops_per_s"]
    assert [e["size"] for e in data["shift"]] == [8, 16]
    for entry in data["shift"]:
        _positive(entry, "median_ms", "peak_memory_bytes", "hole_positions")
        _positive(entry, "allocated_peak_bytes")  # the op's own tensors (profiler memory)
        assert entry["batch_size"] == 4 and entry["channels"] == 256
    assert data["shift"][1]["hole_positions"] == 64  # a quarter of 16x16
    (loader,) = data["data"]
    assert loader["num_workers"] == 0 and loader["size"] == 64
    _positive(loader, "samples_per_s", "samples")


def test_flops_per_image_scale_with_the_image_area() -> None:
    flops = {}
    for size in (64, 128):
        cfg = compose_bench(
            [f"size={size}", "model.generator.base_channels=8", "model.generator.depth=6"]
        )
        generator = instantiate(cfg.model.generator).eval()
        image, mask = torch.rand(1, 3, size, size), torch.zeros(1, 1, size, size)
        mask[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
        with torch.no_grad():
            flops[size] = count_flops(lambda g=generator, x=image, m=mask: g(x, m))
        assert flops[size] > 0
    assert 3.8 < flops[128] / flops[64] < 4.2  # same network (depth 6), 4x the pixels


@pytest.mark.parametrize("model", ["shiftnet", "ce"])
def test_baselines_run_every_model_part(model: str) -> None:
    cfg = compose_bench(
        [
            f"model={model}",
            *TINY,
            "parts=[forward,train_step,generator_step,flops]",
            "profile=true",
            "profile_top=5",
        ]
    )
    lines: list[str] = []
    result = run_bench(cfg, echo=lines.append)
    assert result["config"]["model"] == model
    for name in ("forward", "train_step", "generator_step"):
        _positive(result[name], "ms_per_image", "flops_per_image", "peak_memory_bytes")
    assert "shift" not in result and "data" not in result and "peak" not in result
    assert result["train_step"]["phases_ms"].keys() >= {"G forward", "D step"}
    profile = result["profile"]
    _positive(profile, "step_ms")
    assert len(profile["top_ops"]) == 5
    assert profile["groups"]["D"]["forward_ms"] > 0
    assert profile["groups"]["G decoder convs" if model == "shiftnet" else "D"]["backward_ms"] > 0
    table = format_table(result)
    assert "train_step" in table and "network part" in table and len(lines) >= 3


def test_unknown_part_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown parts"):
        run_bench(compose_bench([*TINY, "parts=[forward,nope]"]))
