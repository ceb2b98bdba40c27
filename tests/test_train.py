"""End-to-end training on the embedded photos with tiny models: every variant, seeding, resume,
non-finite losses, W&B offline, export."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers import TINY, compose_train

from inpaintgan.checkpoints import export_generator, load_generator, read_checkpoint
from inpaintgan.errors import UsageError, UserError
from inpaintgan.run_checks import check_config, resume_checkpoint
from inpaintgan.train import build_module, train


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


def column(rows: list[dict[str, str]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key) not in (None, "")]


@pytest.mark.parametrize("variant", ["paper", "shiftnet", "ce"])
def test_each_variant_fits_validates_and_leaves_its_files(variant: str, tmp_path: Path) -> None:
    cfg = compose_train([*TINY, f"model={variant}", "trainer.log_every_n_steps=1"], tmp_path)
    metrics = train(cfg)
    assert math.isfinite(metrics["val/psnr"]) and 0 < metrics["val/ssim"] <= 1
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert list((tmp_path / "checkpoints").glob("best-*.ckpt"))
    rows = read_metrics(tmp_path)
    assert len(column(rows, "train/g_rec")) == 2
    assert column(rows, "val/psnr")
    if variant != "ce":
        assert column(rows, "train/g_guidance")
    assert sorted(p.name for p in (tmp_path / "samples").glob("*.png"))
    generator, config = load_generator(tmp_path / "checkpoints" / "last.ckpt")
    assert config.model.name == variant


def test_same_seed_gives_same_first_losses(tmp_path: Path) -> None:
    overrides = [*TINY, "trainer.log_every_n_steps=1", "seed=7"]
    runs = []
    for name in ("a", "b"):
        train(compose_train(overrides, tmp_path / name))
        runs.append(read_metrics(tmp_path / name))
    for key in ("train/g_total", "train/d_total", "train/g_style"):
        assert column(runs[0], key) == column(runs[1], key)
    other = tmp_path / "c"
    train(compose_train([*TINY, "trainer.log_every_n_steps=1", "seed=8"], other))
    assert column(read_metrics(other), "train/g_total") != column(runs[0], "train/g_total")


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path: Path) -> None:
    common = [*TINY, "trainer.log_every_n_steps=1", "trainer.limit_train_batches=2"]
    full = tmp_path / "full"
    train(compose_train([*common, "trainer.max_epochs=2"], full))
    first = tmp_path / "first"
    train(compose_train([*common, "trainer.max_epochs=1"], first))
    ckpt = first / "checkpoints" / "last.ckpt"
    resumed = tmp_path / "resumed"
    train(compose_train([*common, "trainer.max_epochs=2", f"ckpt={ckpt}"], resumed))
    full_rows, resumed_rows = read_metrics(full), read_metrics(resumed)
    for key in ("train/g_total", "train/d_total"):
        expected = column(full_rows, key)[2:]
        assert len(expected) == 2
        assert column(resumed_rows, key) == pytest.approx(expected, rel=1e-5, abs=1e-7)
    steps = [int(r["step"]) for r in resumed_rows if r.get("train/g_total")]
    assert steps == [int(r["step"]) for r in full_rows if r.get("train/g_total")][2:]
    assert read_checkpoint(resumed / "checkpoints" / "last.ckpt")["global_step"] == 8


def test_ckpt_path_is_the_old_name_of_ckpt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = compose_train([*TINY, "ckpt_path=runs/last.ckpt"], tmp_path)
    with caplog.at_level("WARNING", logger="inpaintgan.run_checks"):
        assert resume_checkpoint(cfg) == "runs/last.ckpt"
    assert [r.getMessage() for r in caplog.records] == [
        "ckpt_path is deprecated: use ckpt=runs/last.ckpt"
    ]
    assert (cfg.ckpt, cfg.ckpt_path) == ("runs/last.ckpt", None)  # the run records ckpt only
    assert resume_checkpoint(compose_train(TINY, tmp_path)) is None
    both = compose_train([*TINY, "ckpt=a.ckpt", "ckpt_path=b.ckpt"], tmp_path)
    with pytest.raises(UsageError, match="give ckpt= only"):
        resume_checkpoint(both)


def test_data_size_is_checked_against_the_sizes_the_generator_declares(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"data\.size=96 .* multiple of 64, e\.g\. 64, 128, 256"):
        check_config(compose_train([*TINY, "data.size=96", "model.generator.depth=6"], tmp_path))
    with pytest.raises(
        UserError, match="model.generator: depth=3 is too shallow for shift_level=3"
    ):
        check_config(compose_train([*TINY, "model.generator.depth=3"], tmp_path))
    check_config(compose_train([*TINY, "data.size=96", "model.generator.shift_level=2"], tmp_path))


def test_last_checkpoint_is_the_latest_state_even_when_the_best_is_older(tmp_path: Path) -> None:
    # Rank checkpoints by the lowest epoch, so the best one stays at epoch 0.
    best_is_first = [
        "callbacks.model_checkpoint.monitor=epoch",
        "callbacks.model_checkpoint.mode=min",
    ]
    train(compose_train([*TINY, "trainer.max_epochs=2", *best_is_first], tmp_path))
    (best,) = (tmp_path / "checkpoints").glob("best-*.ckpt")
    assert read_checkpoint(best)["global_step"] == 4
    assert read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 8


def test_max_batches_counts_batches_not_optimizer_steps(tmp_path: Path) -> None:
    cfg = compose_train(
        [*TINY, "trainer.limit_train_batches=null", "max_batches=3", "trainer.log_every_n_steps=1"],
        tmp_path,
    )
    train(cfg)
    assert len(column(read_metrics(tmp_path), "train/g_total")) == 3
    assert read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 6


def test_non_finite_losses_are_skipped_then_stop_the_run_keeping_good_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # check_config refuses loss.rec_weight=inf at start; bypass it to reach the runtime guard.
    monkeypatch.setattr("inpaintgan.train.check_config", lambda cfg: None)
    cfg = compose_train(
        [*TINY, "loss.rec_weight=inf", "max_bad_steps=2", "trainer.limit_train_batches=4"],
        tmp_path,
    )
    torch.manual_seed(cfg.seed)
    with pytest.raises(Exception, match="consecutive non-finite losses"):
        train(cfg)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert last.is_file()
    state = read_checkpoint(last)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert int(state["skipped_batches"]) == 2


def test_wandb_offline_run_writes_its_files_and_id_is_checkpointed(tmp_path: Path) -> None:
    cfg = compose_train([*TINY, "logger=wandb"], tmp_path)
    train(cfg)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    run_id = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["inpaintgan"]["wandb_run_id"]
    assert run_id and runs[0].name.endswith(run_id)
    assert (tmp_path / "csv" / "metrics.csv").is_file()


def test_export_keeps_only_the_generator_and_reproduces_its_output(tmp_path: Path) -> None:
    cfg = compose_train(TINY, tmp_path)
    train(cfg)
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    exported = export_generator(ckpt, tmp_path / "generator.pt")
    assert exported.stat().st_size < ckpt.stat().st_size
    from_ckpt, _ = load_generator(ckpt)
    from_export, config = load_generator(exported)
    image = torch.rand(1, 3, 64, 64)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    with torch.no_grad():
        assert torch.equal(from_ckpt(image, mask).image, from_export(image, mask).image)
    assert config.model.name == "paper"


def test_classical_model_cannot_be_trained(tmp_path: Path) -> None:
    cfg = compose_train([*TINY[1:3], "model=telea", "logger=csv"], tmp_path)
    with pytest.raises(Exception, match="no trainable generator"):
        build_module(cfg, {})


def test_bf16_mixed_precision_trains_with_finite_losses(tmp_path: Path) -> None:
    cfg = compose_train(
        [*TINY, "trainer.precision=bf16-mixed", "trainer.log_every_n_steps=1"], tmp_path
    )
    metrics = train(cfg)
    losses = column(read_metrics(tmp_path), "train/g_total")
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    assert math.isfinite(metrics["val/psnr"])


def test_channels_last_training_keeps_nhwc_weights(tmp_path: Path) -> None:
    metrics = train(compose_train([*TINY, "channels_last=true"], tmp_path))
    assert math.isfinite(metrics["val/psnr"])
    state = read_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["state_dict"]
    weight = state["generator.down.1.block.1.weight"]
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()


def test_channels_last_auto_means_cuda_only_and_bad_values_are_refused(tmp_path: Path) -> None:
    module = build_module(compose_train(TINY, tmp_path), {})
    assert module.channels_last == "auto"
    assert not module.use_channels_last(torch.device("cpu"))
    assert module.use_channels_last(torch.device("cuda"))
    module.apply_memory_format(torch.device("cpu"))
    assert module.generator.down[1].block[1].weight.is_contiguous()
    with pytest.raises(Exception, match="channels_last must be"):
        build_module(compose_train([*TINY, "channels_last=nhwc"], tmp_path), {})
    with pytest.raises(ValueError, match="channels_last must be"):
        type(module)(module.generator, module.loss, optimizer_g=None, channels_last="nhwc")


def test_resumed_optimizer_state_takes_the_parameters_memory_format(tmp_path: Path) -> None:
    # Fused Adam pairs parameter and state elements by memory order: a state saved by a run
    # without channels_last would silently scramble the update of a channels_last run.
    module = build_module(compose_train([*TINY, "channels_last=true"], tmp_path), {})
    module.apply_memory_format(torch.device("cpu"))
    opt_g, opt_d = module.configure_optimizers()
    param = module.generator.down[1].block[1].weight
    saved = torch.randn(param.shape)
    opt_g.state[param] = {"step": torch.tensor(3.0), "exp_avg": saved.clone(), "exp_avg_sq": saved}
    module.trainer = SimpleNamespace(optimizers=[opt_g, opt_d])
    module.on_train_start()
    for key in ("exp_avg", "exp_avg_sq"):
        state = opt_g.state[param][key]
        assert state.stride() == param.stride() and torch.equal(state, saved)


def test_compile_is_in_place_and_keeps_checkpoint_keys(tmp_path: Path) -> None:
    module = build_module(compose_train([*TINY, "compile=true"], tmp_path), {})
    keys = list(module.state_dict())
    module.compile_networks()  # lazy: nothing is compiled before the first call
    assert module.generator._compiled_call_impl is not None
    assert module.discriminator._compiled_call_impl is not None
    assert list(module.state_dict()) == keys


def test_lr_schedule_and_grad_clip_come_from_config(tmp_path: Path) -> None:
    cfg = compose_train(
        [
            *TINY,
            "trainer.max_epochs=2",
            "trainer.log_every_n_steps=1",
            "optim.scheduler={_target_:torch.optim.lr_scheduler.StepLR,_partial_:true,"
            "step_size:1,gamma:0.5}",
            "optim.grad_clip=0.5",
        ],
        tmp_path,
    )
    train(cfg)
    rows = read_metrics(tmp_path)
    assert column(rows, "train/lr_g") == pytest.approx([2e-4, 2e-4, 1e-4, 1e-4])
    assert column(rows, "train/lr_d") == pytest.approx([2e-4, 2e-4, 1e-4, 1e-4])


def test_tensorboard_logger_writes_events_and_images(tmp_path: Path) -> None:
    train(compose_train([*TINY, "logger=tensorboard"], tmp_path))
    events = list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and sum(e.stat().st_size for e in events) > 1000
    assert (tmp_path / "csv" / "metrics.csv").is_file()  # CSV stays on with any logger
