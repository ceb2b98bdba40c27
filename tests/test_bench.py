"""`python -m inpaintgan.bench` on a tiny config: every field present and sane.

No timing is asserted (numbers belong in docs/performance.md), only that each measurement
exists, is positive, and that FLOP counting scales with the image area.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from helpers import compose_config, run_cli
from hydra.utils import instantiate
from omegaconf import DictConfig

from inpaintgan.perf import PARTS, count_flops, format_table, run_bench
from inpaintgan.perf import flops as perf_flops
from inpaintgan.perf.peaks import GPU_PEAKS, lookup_gpu, math_mode, mfu, spec_peak
from inpaintgan.perf.run import _bench_peak
from inpaintgan.perf.steps import Settings

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
    return compose_config("bench", overrides)


def _positive(entry: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(entry[key], int | float) and entry[key] > 0, (key, entry.get(key))


def test_cli_prints_table_writes_json_and_leaves_no_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = run_cli("inpaintgan.bench", *TINY, f"out={out}", cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]  # no outputs/, .hydra
    for row in ("forward", "train_step", "generator_step", "shift 8x8", "peak (fp32)", "data"):
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
    # MFU on the CPU: against the measured fp32 peak; no spec sheet for CPUs (the reason shown).
    peak = data["peak"]
    assert peak["math"] == "fp32" and peak["measured"]["dtype"] == "float32"
    _positive(peak["measured"], "flops_per_s", "matmul_flops_per_s", "conv_flops_per_s")
    assert peak["measured"]["flops_per_s"] >= peak["measured"]["conv_flops_per_s"]
    assert peak["spec"]["flops_per_s"] is None and "NVIDIA GPUs only" in peak["spec"]["reason"]
    assert "spec sheet: n/a" in result.stdout
    for name in ("forward", "train_step", "generator_step"):
        entry = data[name]
        _positive(entry, "mfu_measured", "achieved_flops_per_s")
        assert entry["mfu_spec"] is None
        achieved = entry["flops_per_image"] * entry["images_per_s"]
        expected = achieved / peak["measured"]["flops_per_s"]
        assert entry["mfu_measured"] == pytest.approx(expected, abs=1e-4)
    assert [e["size"] for e in data["shift"]] == [8, 16]
    assert {e["method"] for e in data["shift"]} == {"compact"}  # auto on the CPU
    for entry in data["shift"]:
        _positive(entry, "median_ms", "peak_memory_bytes", "hole_positions")
        _positive(entry, "allocated_peak_bytes")  # the op's own tensors (profiler memory)
        assert entry["batch_size"] == 4 and entry["channels"] == 256
    assert data["shift"][1]["hole_positions"] == 64  # a quarter of 16x16
    (loader,) = data["data"]
    assert loader["num_workers"] == 0 and loader["size"] == 64
    _positive(loader, "samples_per_s", "samples")

    # A second run into the same file: refused before measuring, the first result intact.
    again = run_cli("inpaintgan.bench", *TINY, f"out={out}", cwd=tmp_path, timeout=300)
    assert again.returncode == 2 and "overwrite=true" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1 and "forward" not in again.stdout
    assert json.loads(out.read_text()) == data


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


# ------------------------------------------------------------------ MFU denominators
# Names as torch.cuda.get_device_name reports them (and near misses that must not match).
DEVICE_NAMES = {
    "NVIDIA A100-SXM4-80GB": "A100 SXM4/PCIe",
    "NVIDIA A100-PCIE-40GB": "A100 SXM4/PCIe",
    "NVIDIA A100 80GB PCIe": "A100 SXM4/PCIe",
    "NVIDIA H100 80GB HBM3": "H100 SXM5",
    "NVIDIA H100 PCIe": "H100 PCIe",
    "NVIDIA H100 NVL": "H100 NVL",
    "NVIDIA H200": "H200 SXM",
    "NVIDIA H200 NVL": "H200 NVL",
    "NVIDIA L4": "L4",
    "NVIDIA L40S": "L40S",
    "NVIDIA L40": "L40",
    "NVIDIA A10": "A10",
    "NVIDIA GeForce RTX 4090": "RTX 4090",
    "NVIDIA GeForce RTX 3090": "RTX 3090",
    "Tesla V100-SXM2-16GB": "V100 SXM2",
    "Tesla V100-PCIE-32GB": "V100 PCIe",
    "Tesla V100S-PCIE-32GB": "V100S PCIe",
    "Tesla T4": "T4",
    # Other chips with similar names: no spec MFU rather than a wrong one.
    "NVIDIA GeForce RTX 3090 Ti": None,
    "NVIDIA GeForce RTX 4090 Laptop GPU": None,
    "NVIDIA GeForce RTX 4090 D": None,
    "NVIDIA GH200 480GB": None,
    "NVIDIA A10G": None,
    "NVIDIA A1000": None,
    "NVIDIA H100": None,  # form factor unknown: SXM and PCIe peaks differ
    "Some Future GPU": None,
}


@pytest.mark.parametrize(("name", "gpu"), DEVICE_NAMES.items())
def test_spec_table_lookup_by_device_name(name: str, gpu: str | None) -> None:
    row = lookup_gpu(name)
    assert (row.gpu if row else None) == gpu
    matching = [r.gpu for r in GPU_PEAKS if re.search(r.pattern, name, re.IGNORECASE)]
    if gpu is not None:  # the first match wins; the generic rows follow the specific ones
        assert matching[0] == gpu
    spec = spec_peak(name, "bf16")
    if gpu is None:
        assert spec.flops_per_s is None and name in spec.reason
    else:
        assert spec.gpu == gpu


def test_spec_table_is_sane() -> None:
    for row in GPU_PEAKS:
        assert 1 < row.fp32 < 200, row
        tensor = [v for v in (row.bf16, row.fp16, row.tf32) if v is not None]
        assert all(v >= row.fp32 for v in tensor), row  # tensor cores are never slower
        if row.bf16 is not None and row.tf32 is not None:
            assert row.tf32 == pytest.approx(row.bf16 / 2, rel=0.02), row


def test_spec_peak_per_math_mode() -> None:
    h200 = "NVIDIA H200"
    assert spec_peak(h200, "bf16").flops_per_s == pytest.approx(989.4e12)
    assert spec_peak(h200, "fp16").flops_per_s == pytest.approx(989.4e12)
    assert spec_peak(h200, "tf32").flops_per_s == pytest.approx(494.7e12)
    assert spec_peak(h200, "fp32").flops_per_s == pytest.approx(67e12)
    v100 = "Tesla V100-SXM2-16GB"
    no_bf16 = spec_peak(v100, "bf16")
    assert no_bf16.flops_per_s is None and "no bf16 tensor cores" in no_bf16.reason
    no_tf32 = spec_peak(v100, "tf32")  # TF32 flags do nothing there: fp32 units
    assert no_tf32.flops_per_s == pytest.approx(15.7e12) and "no TF32" in no_tf32.reason
    cpu = spec_peak("AMD EPYC 9R14", "fp32", "cpu")
    assert cpu.flops_per_s is None and "NVIDIA GPUs only" in cpu.reason
    with pytest.raises(ValueError, match="math mode"):
        spec_peak(h200, "int8")


def test_math_mode_of_a_row() -> None:
    assert math_mode("bf16", "cuda") == "bf16" and math_mode("16", "cuda") == "fp16"
    assert math_mode("32", "cpu") == "fp32"
    assert math_mode("32", "cuda", {"conv": True, "matmul": False}) == "tf32"
    assert math_mode("32", "cuda", {"conv": False, "matmul": True}) == "tf32"
    assert math_mode("32", "cuda", {"conv": False, "matmul": False}) == "fp32"
    assert mfu(50e12, 100e12) == 0.5 and mfu(1.0, None) is None and mfu(1.0, 0.0) is None


def _fake_cuda_peak(monkeypatch: pytest.MonkeyPatch, precision: str) -> tuple[dict, list]:
    """_bench_peak of a fake CUDA row (an H100 SXM) with the GEMM timing replaced: returns
    the result and the (dtype, matmul precision) of every GEMM it measured."""
    rates = {torch.bfloat16: 800e12, torch.float16: 790e12}
    calls: list[tuple[torch.dtype, str]] = []

    def fake_gemm(device: torch.device, dtype: torch.dtype) -> float:
        assert device.type == "cuda"
        matmul_precision = torch.get_float32_matmul_precision()
        calls.append((dtype, matmul_precision))
        if dtype == torch.float32:
            return 400e12 if matmul_precision != "highest" else 50e12
        return rates[dtype]

    monkeypatch.setattr(perf_flops, "matmul_peak_flops", fake_gemm)
    settings = Settings(torch.device("cuda"), precision, None, True, False)
    result = {
        "environment": {"device_name": "NVIDIA H100 80GB HBM3"},
        "train_step": {"flops_per_image": 2e12, "images_per_s": 100.0},
        "forward": {"flops_per_image": 1e12, "images_per_s": 200.0},
    }
    _bench_peak(result, settings, echo=lambda line: None)
    return result, calls


@pytest.mark.parametrize(
    ("conv_tf32", "matmul_precision", "math", "gemm_rate", "spec_tflops"),
    [
        (True, "highest", "tf32", 400e12, 494.7),  # cuDNN's default: convolutions on TF32
        (False, "high", "tf32", 400e12, 494.7),
        (False, "highest", "fp32", 50e12, 67.0),
    ],
)
def test_fp32_row_is_never_divided_by_the_bf16_rate(
    monkeypatch: pytest.MonkeyPatch,
    conv_tf32: bool,
    matmul_precision: str,
    math: str,
    gemm_rate: float,
    spec_tflops: float,
) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", conv_tf32)
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(matmul_precision)
    try:
        result, calls = _fake_cuda_peak(monkeypatch, "32")
        assert torch.get_float32_matmul_precision() == matmul_precision  # restored
    finally:
        torch.set_float32_matmul_precision(before)
    assert [dtype for dtype, _ in calls] == [torch.float32]  # never a bf16 GEMM
    assert calls[0][1] == ("high" if math == "tf32" else "highest")
    peak = result["peak"]
    assert peak["math"] == math and peak["measured"]["flops_per_s"] == gemm_rate
    assert peak["fp32_tf32"] == {"conv": conv_tf32, "matmul": matmul_precision != "highest"}
    assert peak["spec"]["gpu"] == "H100 SXM5"
    step = result["train_step"]
    assert step["achieved_flops_per_s"] == 200e12
    assert step["mfu_measured"] == pytest.approx(200e12 / gemm_rate, abs=1e-4)
    assert step["mfu_spec"] == pytest.approx(200e12 / (spec_tflops * 1e12), abs=1e-4)
    assert result["forward"]["mfu_spec"] == step["mfu_spec"]  # same achieved rate


@pytest.mark.parametrize(("precision", "dtype"), [("bf16", torch.bfloat16), ("16", torch.float16)])
def test_autocast_rows_use_their_own_gemm_and_spec(
    monkeypatch: pytest.MonkeyPatch, precision: str, dtype: torch.dtype
) -> None:
    result, calls = _fake_cuda_peak(monkeypatch, precision)
    assert [d for d, _ in calls] == [dtype]
    step = result["train_step"]
    rate = 800e12 if dtype == torch.bfloat16 else 790e12
    assert step["mfu_measured"] == pytest.approx(200e12 / rate, abs=1e-4)
    assert step["mfu_spec"] == pytest.approx(200e12 / 989.4e12, abs=1e-4)
    assert "fp32_tf32" not in result["peak"]
    table = format_table(
        {
            "config": {
                "model": "paper",
                "size": 256,
                "batch_size": 32,
                "device": "cuda",
                "precision": precision,
                "channels_last": True,
                "compile": False,
                "repeats": 5,
                "warmup": 2,
            },
            **result,
            "environment": {"device_name": "NVIDIA H100 80GB HBM3", "threads": 16},
            "train_step": {**step, "median_ms": 320.0, "ms_per_image": 10.0},
        }
    )
    assert "spec sheet: H100 SXM5 989.4 TFLOP/s dense" in table
    assert f"{step['mfu_spec']:.1%}" in table and f"{step['mfu_measured']:.1%}" in table


def test_unknown_gpu_gets_no_spec_mfu_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(perf_flops, "matmul_peak_flops", lambda device, dtype: 100e12)
    settings = Settings(torch.device("cuda"), "bf16", torch.bfloat16, True, False)
    result = {
        "environment": {"device_name": "Mystery Accelerator 9000"},
        "train_step": {"flops_per_image": 1e12, "images_per_s": 10.0},
    }
    _bench_peak(result, settings, echo=lambda line: None)
    assert result["train_step"]["mfu_spec"] is None
    assert result["train_step"]["mfu_measured"] == 0.1
    assert "Mystery Accelerator 9000" in result["peak"]["spec"]["reason"]


@pytest.mark.parametrize(("method", "runs_as"), [("auto", "compact"), ("dense", "dense")])
def test_shift_rows_name_the_method_they_timed(method: str, runs_as: str) -> None:
    from inpaintgan.perf.steps import bench_shift

    settings = Settings(torch.device("cpu"), "32", None, False, False)
    entry = bench_shift(8, settings, batch=2, channels=4, warmup=0, repeats=1, method=method)
    assert entry["method"] == runs_as and entry["median_ms"] > 0
    assert entry["shiftnet_style_ms"] > 0
    ratio = entry["shiftnet_style_ms"] / entry["median_ms"]
    assert entry["speedup_vs_shiftnet_style"] == pytest.approx(ratio, rel=0.02, abs=0.01)
