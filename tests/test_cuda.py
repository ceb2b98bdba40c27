"""What only a GPU can show: training, the shift op, memory format, fp16 loss scaling, the
bench's CUDA timing and the on-device batch conversion, on CUDA.

Every test here is marked ``cuda`` and skipped only when torch sees no CUDA device;
``pytest -m cuda`` runs them (scripts/gpu_check.sh does, on a GPU machine).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

import pytest
import torch
from helpers import compose_config
from omegaconf import DictConfig
from torch import nn

from inpaintgan.data import to_float_batch
from inpaintgan.models.shift import shift_known_to_hole
from inpaintgan.perf import run_bench
from inpaintgan.perf.flops import matmul_peak_flops
from inpaintgan.perf.steps import Parts, build_parts, resolve_settings, synthetic_batch
from inpaintgan.perf.timing import Clock, measure

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

#: The device under test (a module constant so the bodies can be dry-run elsewhere).
DEVICE = "cuda"

# A small paper model: a step takes milliseconds on any GPU.
SMALL = [
    "model=paper",
    "size=64",
    "batch_size=2",
    "model.generator.base_channels=16",
    "model.discriminator.base_channels=16",
    "warmup=1",
    "repeats=3",
]


def bench_config(*overrides: str) -> DictConfig:
    return compose_config("bench", [*SMALL, f"device={DEVICE}", *overrides])


def small_parts(precision: str) -> tuple[Parts, dict]:
    cfg = bench_config(f"precision={precision}")
    settings = resolve_settings(cfg)
    torch.manual_seed(0)
    parts = build_parts(cfg, settings)
    batch = synthetic_batch(int(cfg.batch_size), int(cfg.size), 0.5, settings)
    return parts, batch


def snapshot(*networks: nn.Module | None) -> list[torch.Tensor]:
    return [p.detach().clone() for n in networks if n is not None for p in n.parameters()]


def changed(before: list[torch.Tensor], *networks: nn.Module | None) -> list[bool]:
    after = [p.detach() for n in networks if n is not None for p in n.parameters()]
    return [not torch.equal(a, b) for a, b in zip(before, after, strict=True)]


@contextlib.contextmanager
def exact_fp32_matmul() -> Iterator[None]:
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def test_paper_training_step_in_bf16_is_finite_and_updates_the_weights() -> None:
    parts, batch = small_parts("bf16")
    assert parts.settings.autocast_dtype == torch.bfloat16
    assert next(parts.generator.parameters()).device.type == "cuda"
    g_before = snapshot(parts.generator)
    d_before = snapshot(parts.discriminator)
    with parts.settings.autocast():
        logs = parts.module.gan_step(batch, parts.opt_g, parts.opt_d, parts.settings.scaler())
    assert int(parts.module.skipped_batches) == 0
    for name, value in logs.items():
        assert torch.isfinite(torch.as_tensor(value)).all(), (name, value)
    # (Some parameters get no gradient, e.g. conv biases before an InstanceNorm.)
    assert any(changed(g_before, parts.generator))
    assert any(changed(d_before, parts.discriminator))
    for param in parts.generator.parameters():
        assert param.dtype == torch.float32 and torch.isfinite(param).all()


def _hole(batch: int, size: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    hole = torch.zeros(batch, 1, size, size, dtype=torch.bool)
    hole[0, :, 4:12, 4:12] = True  # a centred square
    hole[1] = torch.rand(1, size, size, generator=gen) < 0.3  # scattered positions
    return hole


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_shift_op_on_cuda_matches_the_cpu(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    decoder = torch.randn(2, 32, 16, 16, generator=gen).to(dtype)
    encoder = torch.randn(2, 32, 16, 16, generator=gen).to(dtype)
    hole = _hole(2, 16)
    with exact_fp32_matmul():
        cpu_encoder = encoder.clone().requires_grad_()
        cpu = shift_known_to_hole(decoder, cpu_encoder, hole)
        dev_encoder = encoder.to(DEVICE).requires_grad_()
        dev = shift_known_to_hole(decoder.to(DEVICE), dev_encoder, hole.to(DEVICE))
    assert dev.device.type == "cuda" and dev.dtype == cpu.dtype == dtype
    dev_cpu = dev.detach().cpu()
    assert (dev_cpu[~hole.expand_as(dev_cpu)] == 0).all()  # known positions stay 0
    # The same vector is pasted everywhere, except where two keys tie to rounding.
    differs = (dev_cpu != cpu.detach()).any(dim=1)  # [B, H, W]
    assert differs.float().mean() < 0.02
    if differs.any():
        query = decoder.float().permute(0, 2, 3, 1)[differs]
        a = cpu.detach().float().permute(0, 2, 3, 1)[differs]
        b = dev_cpu.float().permute(0, 2, 3, 1)[differs]
        sim_a = torch.cosine_similarity(query, a, dim=-1)
        sim_b = torch.cosine_similarity(query, b, dim=-1)
        assert torch.allclose(sim_a, sim_b, atol=1e-2 if dtype == torch.bfloat16 else 1e-5)
    else:  # then the gradient reaches the same encoder positions with the same values
        weight = torch.randn(cpu.shape, generator=gen).to(dtype)
        (cpu * weight).sum().backward()
        (dev * weight.to(DEVICE)).sum().backward()
        # (a key chosen by several queries sums their gradients, in another order on CUDA)
        tolerance = 2e-2 if dtype == torch.bfloat16 else 1e-5
        grad = dev_encoder.grad.cpu().float()
        assert torch.equal(grad != 0, cpu_encoder.grad != 0)
        assert torch.allclose(grad, cpu_encoder.grad.float(), rtol=tolerance, atol=tolerance)


def test_channels_last_weights_give_channels_last_activations() -> None:
    parts, batch = small_parts("bf16")
    assert parts.settings.channels_last  # channels_last: auto means on, on CUDA
    image, mask = batch["image"], batch["mask"]
    assert image.is_contiguous()  # the loader's NCHW batch, not converted
    convs = [m for m in parts.generator.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    assert convs and all(
        m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs
    ), "weights not in channels_last"
    layouts: list[tuple[str, bool]] = []

    def record(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        if output.shape[1] > 1 and output.shape[-1] * output.shape[-2] > 1:
            layouts.append(
                (type(module).__name__, output.is_contiguous(memory_format=torch.channels_last))
            )

    handles = [m.register_forward_hook(record) for m in convs]
    try:
        with torch.no_grad(), parts.settings.autocast():
            parts.generator(image, mask)
    finally:
        for handle in handles:
            handle.remove()
    assert layouts and all(ok for _, ok in layouts), [name for name, ok in layouts if not ok]


def test_fp16_grad_scaler_skips_an_overflow_and_backs_off() -> None:
    parts, batch = small_parts("16")
    assert parts.settings.autocast_dtype == torch.float16
    init = 2.0**40  # the scaled float16 gradients overflow (> 65504)
    scaler = torch.amp.GradScaler("cuda", init_scale=init)
    assert scaler.is_enabled()
    g_before, d_before = snapshot(parts.generator), snapshot(parts.discriminator)
    with parts.settings.autocast():
        logs = parts.module.gan_step(batch, parts.opt_g, parts.opt_d, scaler)
    assert torch.isfinite(torch.as_tensor(logs["g_total"]))  # the loss itself was fine
    assert torch.isnan(torch.as_tensor(logs["g_grad_norm"]))  # the step was skipped
    assert not any(changed(g_before, parts.generator))  # nothing stepped
    assert not any(changed(d_before, parts.discriminator))
    backoffs = math.log2(init / scaler.get_scale())
    assert backoffs in (1.0, 2.0)  # halved once per skipped optimiser step (G, and D)
    scaler.update(2.0**8)  # a scale that fits: the next step goes through
    with parts.settings.autocast():
        logs = parts.module.gan_step(batch, parts.opt_g, parts.opt_d, scaler)
    assert torch.isfinite(torch.as_tensor(logs["g_grad_norm"]))
    assert any(changed(g_before, parts.generator))
    assert any(changed(d_before, parts.discriminator))


def test_cuda_clock_and_measure_report_device_time() -> None:
    device = torch.device(DEVICE)
    a = torch.randn(4096, 4096, device=device, dtype=torch.bfloat16)  # GPU-bound

    def step(clock: Clock) -> None:
        for _ in range(5):
            a @ a
        clock.mark("first")
        for _ in range(10):
            a @ a
        clock.mark("second")

    started = time.perf_counter()
    timing = measure(step, device, warmup=2, repeats=5)
    wall_ms = (time.perf_counter() - started) * 1e3
    assert len(timing.times_ms) == 5 and all(t > 0 for t in timing.times_ms)
    assert set(timing.phases_ms) == {"first", "second"}
    # medians of the phases add up to about the median run
    assert sum(timing.phases_ms.values()) == pytest.approx(timing.median_ms, rel=0.2)
    assert 1.2 < timing.phases_ms["second"] / timing.phases_ms["first"] < 3.0  # 10 vs 5 GEMMs
    assert sum(timing.times_ms) < wall_ms  # device time inside the wall time
    rate = matmul_peak_flops(device, torch.bfloat16, n=4096, iters=10)
    assert 1e12 < rate < 1e16  # between 1 TFLOP/s and 10 PFLOP/s


def test_bench_on_cuda_reports_sane_numbers() -> None:
    cfg = bench_config("precision=bf16", "parts=[forward,train_step,flops,mfu]")
    result = run_bench(cfg)
    assert result["config"]["device"].startswith("cuda")
    assert result["environment"]["device_name"] == torch.cuda.get_device_name()
    for name in ("forward", "train_step"):
        entry = result[name]
        assert entry["memory_kind"] == "cuda_max_allocated" and entry["peak_memory_bytes"] > 0
        assert 0 < entry["median_ms"] < 10_000 and entry["images_per_s"] > 0
        assert 0 < entry["mfu_measured"] < 1.5
    peak = result["peak"]
    assert peak["math"] == "bf16" and peak["measured"]["dtype"] == "bfloat16"
    assert 1e12 < peak["measured"]["flops_per_s"] < 1e16
    spec = peak["spec"]
    if spec["flops_per_s"] is None:  # a GPU not in the table: said so, no spec MFU
        assert spec["reason"] and result["train_step"]["mfu_spec"] is None
    else:  # a measured GEMM does not beat the data sheet by much
        assert 0 < result["train_step"]["mfu_spec"] < 1.0
        assert peak["measured"]["flops_per_s"] < 1.15 * spec["flops_per_s"]


def test_uint8_batch_is_converted_on_the_device() -> None:
    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (2, 3, 8, 8), generator=gen, dtype=torch.uint8)
    mask = torch.rand(2, 1, 8, 8, generator=gen) < 0.5
    out = to_float_batch({"image": image, "mask": mask, "name": ["a", "b"]}, DEVICE)
    assert out["image"].device.type == "cuda" and out["image"].dtype == torch.float32
    assert out["mask"].device.type == "cuda" and out["mask"].dtype == torch.float32
    on_cpu = to_float_batch({"image": image, "mask": mask})
    assert torch.equal(out["image"].cpu(), on_cpu["image"])  # the same bits as on the CPU
    assert torch.allclose(out["image"].cpu(), image.float() / 255, rtol=0, atol=1e-7)
    assert out["image"].min() >= 0 and out["image"].max() <= 1
    assert torch.equal(out["mask"].cpu(), mask.float()) and out["name"] == ["a", "b"]
    again = to_float_batch(out, DEVICE)  # float batches pass through
    assert again["image"] is out["image"]


def test_torchscript_export_traced_on_cpu_runs_on_cuda_like_the_eager_generator(tmp_path):
    # The export holds no device constants: traced on the CPU, loaded onto the GPU, it
    # equals the eager generator on the GPU on masks it was not traced with.
    from inpaintgan.exporting import ExportableInpainter, export_info, export_torchscript
    from inpaintgan.inpainter import load_inpainter
    from inpaintgan.models.unet import UNetGenerator

    torch.manual_seed(0)
    generator = UNetGenerator(image_size=64, base_channels=8).eval()
    path = export_torchscript(generator, tmp_path / "g.ts", export_info(generator, {})).path
    loaded = load_inpainter(str(path), device=DEVICE)
    reference = ExportableInpainter(generator.to(DEVICE)).eval()
    image = torch.rand(3, 3, 64, 128, device=DEVICE)
    mask = torch.zeros(3, 1, 64, 128, device=DEVICE)
    mask[0, :, 8:40, 8:40] = 1
    mask[1, :, 20:60, 70:120] = 1  # another size and position; image 2 has no hole
    with torch.no_grad():
        want = reference(image, mask)
        got = loaded(image, mask)
    assert got.device.type == "cuda"
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4)
