"""What a tiny training run prints (inpaintgan/console.py, the progress callbacks): none of
the known third-party noise, progress counted in batches, and plain progress lines when
stdout is not a terminal, which also land in the run's train.log."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import run_cli

from inpaintgan.callbacks import PlainProgress, end_of_training_line, progress_callback

# Ends in the first epoch before any validation (the ModelCheckpoint warning's case), with
# W&B offline (its anonymous-setting warning), max_batches (Lightning's max_steps line), the
# progress display on and a plain line after every batch.
TINY_RUN = [
    "data.size=64",
    "data.batch_size=2",
    "data.num_workers=0",
    "model.generator.base_channels=8",
    "loss.style_weight=0",
    "logger=default",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=-1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "trainer.enable_progress_bar=true",
    "max_batches=2",
    "callbacks.progress.every_n_batches=1",
    "callbacks.image_grid.every_n_batches=1",
]

NOISE = {
    "litlogger tip": "Tip: For seamless cloud logging",
    "wandb anonymous": "The anonymous setting has no effect",
    "pytree LeafSpec": "LeafSpec",
    "max_steps stop": "`Trainer.fit` stopped",
    "optimiser steps": "max_steps=4",
    "negative epoch total": "/-2",
    "FLOPs": "FLOPs",
    "ModelCheckpoint warning": "could not find the monitored key",
    "summary note": "Trainer already configured with model summary",
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("console")
    result = run_cli("inpaintgan.train", *TINY_RUN, f"paths.root_dir={root}", cwd=root, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (log_file,) = (root / "outputs").glob("*/*/train.log")
    return result, log_file.read_text()


@pytest.mark.parametrize("name", sorted(NOISE))
def test_tiny_run_console_has_no_known_noise(tiny_run, name: str) -> None:
    result, _ = tiny_run
    console = result.stdout + result.stderr
    assert NOISE[name] not in console, f"{name}: {NOISE[name]!r} printed:\n{console}"


def test_non_tty_run_prints_plain_progress_lines_also_in_train_log(tiny_run) -> None:
    result, log_text = tiny_run
    lines = [line for line in result.stdout.splitlines() if "inpaintgan.progress" in line]
    assert any(line.endswith("training: 2 batches; a line every 1 batches") for line in lines)
    batch_lines = [line for line in lines if re.search(r" - batch \d+/2 · epoch 0 · ", line)]
    assert len(batch_lines) == 2, result.stdout
    assert "batches/s" in batch_lines[0] and "ETA" in batch_lines[0]
    assert "g_total" in batch_lines[0]
    assert any("training done: 2 batches (max_batches=2 reached)" in line for line in lines)
    for line in batch_lines:
        assert line.split(" - ", 1)[1] in log_text, "progress line missing from train.log"
    # No terminal: no rich bar drawing (box characters, cursor codes) on stdout.
    assert "\x1b[" not in result.stdout and "━" not in result.stdout
    # Lightning's own lines reach train.log too.
    assert "GPU available" in log_text


def test_model_summary_is_short_without_flops(tiny_run) -> None:
    result, log_text = tiny_run
    assert "trainable parameters" in result.stdout and "generator" in result.stdout
    assert "trainable parameters" in log_text


def test_plain_progress_reports_validation(tmp_path: Path) -> None:
    bar = PlainProgress(every_n_batches=10)
    trainer = SimpleNamespace(
        sanity_checking=False,
        is_global_zero=True,
        state=SimpleNamespace(fn="fit"),
        progress_bar_metrics={"g_total": 0.5, "val/ssim": 0.5971, "val/psnr": 17.0123},
        callback_metrics={"val/psnr": 17.0123, "val/g_rec": 0.4, "g_total": 0.5},
        fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(total_batch_idx=249)),
    )
    bar._trainer = trainer
    bar.on_validation_end(trainer, None)
    assert bar.lines == ["validation at batch 250: val/psnr 17.01 · val/ssim 0.5971"]


def _trainer(max_steps: int, max_epochs: int, global_step: int, epoch: int, batches: int):
    return SimpleNamespace(
        max_steps=max_steps,
        max_epochs=max_epochs,
        global_step=global_step,
        current_epoch=epoch,
        fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(total_batch_idx=batches - 1)),
    )


def test_end_of_training_counts_batches_not_optimiser_steps() -> None:
    gan = SimpleNamespace(optimizer_steps_per_batch=2)
    by_batches = _trainer(max_steps=600, max_epochs=-1, global_step=600, epoch=37, batches=300)
    assert end_of_training_line(by_batches, gan) == (
        "training done: 300 batches (max_batches=300 reached)"
    )
    by_epochs = _trainer(max_steps=-1, max_epochs=5, global_step=80, epoch=5, batches=40)
    assert end_of_training_line(by_epochs, gan) == (
        "training done: 40 batches, 5 epochs (trainer.max_epochs=5 reached)"
    )
    interrupted = _trainer(max_steps=600, max_epochs=-1, global_step=20, epoch=1, batches=10)
    assert end_of_training_line(interrupted, gan) == "training stopped after 10 batches"


def test_terminal_bar_has_no_negative_epoch_total() -> None:
    bar = progress_callback(enabled=True, plain=False)
    bar._trainer = SimpleNamespace(max_epochs=-1)
    assert bar._get_train_description(37) == "Epoch 37"
    bar._trainer = SimpleNamespace(max_epochs=20)
    assert bar._get_train_description(3) == "Epoch 3/19"


def test_progress_display_follows_the_trainer_switch() -> None:
    assert isinstance(progress_callback(enabled=True, plain=True), PlainProgress)
    off = progress_callback(enabled=False)
    assert type(off).__name__ == "Callback"  # the Trainer refuses a bar it was told to hide
