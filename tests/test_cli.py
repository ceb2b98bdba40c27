"""The training CLI as users run it: single run, multirun, Optuna, DDP on CPU, bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from helpers import TINY, run_cli

from inpaintgan.io import AtomicCheckpointIO


def test_cli_run_writes_config_checkpoint_metrics_and_grids(tmp_path: Path) -> None:
    result = run_cli("inpaintgan.train", *TINY, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / ".hydra" / "config.yaml").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    assert list((tmp_path / "samples").glob("val_*.png"))
    exported = tmp_path / "generator.pt"
    export = run_cli(
        "inpaintgan.export", f"ckpt={tmp_path / 'checkpoints' / 'last.ckpt'}", f"out={exported}"
    )
    assert export.returncode == 0, export.stderr[-3000:]
    assert exported.is_file() and "wrote" in export.stdout
    refused = run_cli("inpaintgan.export", f"ckpt={tmp_path / 'csv' / 'metrics.csv'}", "out=x.pt")
    assert refused.returncode == 2 and "metrics.csv" in refused.stderr


def test_multirun_writes_one_folder_per_job(tmp_path: Path) -> None:
    result = run_cli(
        "inpaintgan.train",
        "-m",
        *TINY,
        "loss.style_weight=0,10",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        assert (tmp_path / job / "checkpoints" / "last.ckpt").is_file()
        assert (tmp_path / job / "csv" / "metrics.csv").is_file()


def test_optuna_sweep_runs_two_trials(tmp_path: Path) -> None:
    result = run_cli(
        "inpaintgan.train",
        "-m",
        "+sweep=lambda_optuna",
        *TINY,
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=2",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    best = (tmp_path / "optimization_results.yaml").read_text()
    assert "best_value" in best and "loss.style_weight" in best


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_in_a_multirun_keeps_each_job_in_its_folder(
    tmp_path: Path,
) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(
        "inpaintgan.train",
        "-m",
        *TINY,
        "trainer=ddp_cpu",
        "trainer.limit_train_batches=2",
        "trainer.log_every_n_steps=1",
        "loss.style_weight=0,10",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        with open(sweep / job / "csv" / "metrics.csv") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("train/g_total")]
        assert len(rows) == 2  # rank 0 logs; each rank ran its own shard of 2 batches
        assert (sweep / job / "checkpoints" / "last.ckpt").is_file()
        assert (sweep / job / "train_ddp_process_1.log").is_file()  # rank 1 joined this job
    assert not (tmp_path / "outputs").exists()  # no stray single-run folders for rank 1


def test_missing_dataset_root_is_one_line_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = run_cli(
        "inpaintgan.train",
        *TINY,
        "data=folder",
        f"data.root={missing}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert str(missing) in lines[-1] and "Traceback" not in result.stderr


def test_unreadable_resume_checkpoint_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "broken.ckpt"
    bad.write_bytes(b"not a checkpoint")
    result = run_cli("inpaintgan.train", *TINY, f"ckpt={bad}", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert str(bad) in result.stderr and "Traceback" not in result.stderr


def test_bad_speed_option_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run_cli("inpaintgan.train", *TINY, "channels_last=nhwc", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "channels_last must be true, false or auto" in last and "Traceback" not in result.stderr


def test_a_checkpoint_write_killed_midway_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.ones(3)}, path)

    def dies_midway(obj, handle, *args, **kwargs):
        handle.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1


def test_missing_imagenet_vgg_weights_fail_at_start_in_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "inpaintgan.train",
        *TINY,
        "loss.style_features.weights=imagenet",
        f"hydra.run.dir={tmp_path}",
        env={"TORCH_HOME": str(tmp_path / "torch_home")},
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "vgg16-397923af.pth" in last and "Traceback" not in result.stderr
    assert not (tmp_path / "checkpoints").exists()
