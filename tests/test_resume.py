"""Exact resume (issue 24): a run interrupted (a) by SIGTERM inside an epoch, (b) by kill -9
after an epoch-end save, (c) at its end and then extended, continues with the per-batch
losses and final weights of an uninterrupted run, on one process and on 2-process DDP."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import REPO_ROOT, TINY, compose_train

from inpaintgan.checkpoints import read_checkpoint
from inpaintgan.data.sampling import ResumableLoader, ResumableSampler, epoch_permutation
from inpaintgan.train import train

PER_EPOCH = 5  # trainer.limit_train_batches: epochs end after batches 4, 9, 14, ...
TOTAL = 12  # the uninterrupted run: two whole epochs and two batches of the third
BASE = [
    *TINY,
    "model=shiftnet",
    "trainer.log_every_n_steps=1",
    f"trainer.limit_train_batches={PER_EPOCH}",
    "trainer.max_epochs=-1",
    "callbacks.image_grid.every_n_batches=0",
]
TOLERANCE = 1e-6


def losses(run_dir: Path) -> dict[int, tuple[float, float, int]]:
    """step → (g_total, d_total, epoch) of every logged training batch (CSV logger)."""
    path = run_dir / "csv" / "metrics.csv"
    if not path.is_file():  # killed before the logger wrote anything
        return {}
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    return {
        int(r["step"]): (float(r["train/g_total"]), float(r["train/d_total"]), int(r["epoch"]))
        for r in rows
        if r.get("train/g_total")
    }


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]


def compare(reference: Path, parts: list[Path]) -> tuple[float, float]:
    """max |Δloss| over the whole curve and max |Δweight| of the final state; the curve
    of ``parts`` (a later part wins a step both logged) must cover every step, with the
    same epoch numbers."""
    expected = losses(reference)
    got: dict[int, tuple[float, float, int]] = {}
    for part in parts:
        got.update(losses(part))
    assert sorted(got) == sorted(expected) == list(range(TOTAL))
    assert [got[s][2] for s in sorted(got)] == [expected[s][2] for s in sorted(expected)]
    d_loss = max(abs(got[s][i] - expected[s][i]) for s in expected for i in (0, 1))
    a, b = weights(reference), weights(parts[-1])
    assert a.keys() == b.keys()
    d_weight = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    print(f"max |dloss| {d_loss:.3g}, max |dweight| {d_weight:.3g}")
    return d_loss, d_weight


class SignalAt:
    """Test callback: sends ``signum`` at the end of batch ``batch`` (0-based, counted over
    the whole run) to this process, or with ``group`` to its whole process group (every DDP
    rank at once, as a scheduler's kill -9 of the job does); SIGKILL is kill -9."""

    def __new__(cls, signum: int, batch: int, group: bool = False) -> Any:
        import pytorch_lightning as pl

        class _Send(pl.Callback):
            def on_train_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
                if trainer.is_global_zero and trainer.fit_loop.epoch_loop.total_batch_idx == batch:
                    if group:
                        os.killpg(os.getpgrp(), signum)
                    os.kill(os.getpid(), signum)

        return _Send()


def cli(run_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``python -m inpaintgan.train`` in its own process group (a group kill stays in it)."""
    path = os.pathsep.join([str(REPO_ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    env = {
        **os.environ,
        "PYTHONPATH": path,
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "inpaintgan.train", *BASE, *overrides]
    return subprocess.run(
        [*command, f"hydra.run.dir={run_dir}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )


def send(signum: int, batch: int, group: bool = False) -> list[str]:
    return [
        f"+callbacks.send_signal._target_={__name__}.SignalAt",
        f"+callbacks.send_signal.signum={int(signum)}",
        f"+callbacks.send_signal.batch={batch}",
        f"+callbacks.send_signal.group={str(group).lower()}",
    ]


# ------------------------------------------------------------------------ one process
@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("r0")
    torch.set_num_threads(1)
    train(compose_train([*BASE, f"max_batches={TOTAL}"], run))
    return run


@pytest.mark.parametrize("stop", [PER_EPOCH, 7], ids=["at-epoch-end", "inside-an-epoch"])
def test_a_finished_run_extended_continues_with_the_next_batch(
    stop: int, uninterrupted: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    train(compose_train([*BASE, f"max_batches={stop}"], first))
    position = read_checkpoint(first / "checkpoints" / "last.ckpt")["callbacks"]
    assert position["TrainingPosition"]["batches"] == stop
    ckpt = first / "checkpoints" / "last.ckpt"
    train(compose_train([*BASE, f"max_batches={TOTAL}", f"ckpt_path={ckpt}"], second))
    assert min(losses(second)) == stop  # the next batch, not one later
    d_loss, d_weight = compare(uninterrupted, [first, second])
    assert d_loss <= TOLERANCE and d_weight <= TOLERANCE


def _stop_then_resume(
    uninterrupted: Path, tmp_path: Path, stop: list[str], exit_code: int, saved_batches: int
) -> subprocess.CompletedProcess:
    """Train until ``stop`` interrupts the process (exit ``exit_code``, ``last.ckpt`` holding
    ``saved_batches``), resume in process from that file with the next batch, and match the
    uninterrupted run. Returns the interrupted process."""
    first, second = tmp_path / "first", tmp_path / "second"
    stopped = cli(first, f"max_batches={TOTAL}", *stop)
    assert stopped.returncode == exit_code, stopped.stderr[-2000:]
    last = first / "checkpoints" / "last.ckpt"
    assert read_checkpoint(last)["callbacks"]["TrainingPosition"]["batches"] == saved_batches
    train(compose_train([*BASE, f"max_batches={TOTAL}", f"ckpt_path={last}"], second))
    assert min(losses(second)) == saved_batches
    d_loss, d_weight = compare(uninterrupted, [first, second])
    assert d_loss <= TOLERANCE and d_weight <= TOLERANCE
    return stopped


def test_sigterm_inside_an_epoch_saves_exits_143_and_resumes_exactly(
    uninterrupted: Path, tmp_path: Path
) -> None:
    stopped = _stop_then_resume(uninterrupted, tmp_path, send(signal.SIGTERM, 6), 143, 7)
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    assert f"saved the state after 7 batches to {last}" in stopped.stderr


def test_kill_9_after_an_epoch_end_save_resumes_from_it_exactly(
    uninterrupted: Path, tmp_path: Path
) -> None:
    stop = send(signal.SIGKILL, 7)
    _stop_then_resume(uninterrupted, tmp_path, stop, -signal.SIGKILL, PER_EPOCH)


def test_stopping_between_validations_validates_the_final_weights(tmp_path: Path) -> None:
    train(compose_train([*BASE, "max_batches=3"], tmp_path))
    rows = list(csv.DictReader(open(tmp_path / "csv" / "metrics.csv")))
    val_steps = [int(r["step"]) for r in rows if r.get("val/psnr")]
    assert val_steps == [2]  # one validation, after the last batch (not at an epoch end)
    assert list((tmp_path / "checkpoints").glob("best-*.ckpt"))
    assert sorted(p.name for p in (tmp_path / "samples").glob("val_*.png")) == [
        "val_batch0000002.png"
    ]


def test_a_checkpoint_saved_before_its_epoch_end_resumes_with_that_epoch_end(
    tmp_path: Path,
) -> None:
    """best-*.ckpt saved after the epoch's last validation but before the epoch end (the
    LR schedule step): the resume runs that epoch end first, then the next epoch."""
    schedule = (
        "optim.scheduler={_target_:torch.optim.lr_scheduler.StepLR,_partial_:true,"
        "step_size:1,gamma:0.5}"
    )
    before_epoch_end = [
        "+callbacks.model_checkpoint.save_on_train_epoch_end=false",
        "callbacks.model_checkpoint.monitor=epoch",  # the first epoch's stays the best
        "callbacks.model_checkpoint.mode=min",
        schedule,
    ]
    reference, resumed = tmp_path / "r0", tmp_path / "resumed"
    train(compose_train([*BASE, *before_epoch_end, f"max_batches={TOTAL}"], reference))
    (best,) = (reference / "checkpoints").glob("best-*.ckpt")
    position = read_checkpoint(best)["callbacks"]["TrainingPosition"]
    assert position == {"batches": 5, "epochs": 0, "in_epoch": 5, "per_epoch": 5}
    train(
        compose_train(
            [*BASE, *before_epoch_end, f"max_batches={TOTAL}", f"ckpt_path={best}"], resumed
        )
    )
    expected, got = losses(reference), losses(resumed)
    assert sorted(got) == list(range(PER_EPOCH, TOTAL))
    assert max(abs(got[s][i] - expected[s][i]) for s in got for i in (0, 1)) <= TOLERANCE
    assert [got[s][2] for s in sorted(got)] == [expected[s][2] for s in sorted(got)]
    a, b = weights(reference), weights(resumed)
    assert max((a[k].double() - b[k].double()).abs().max().item() for k in a) <= TOLERANCE


# ---------------------------------------------------------------- sampler and loader
def test_the_sampler_skips_trained_batches_and_shards_one_order_across_ranks() -> None:
    data = list(range(11))
    whole = ResumableSampler(data, seed=3, num_replicas=1, rank=0)
    whole.set_epoch(2)
    assert list(whole) == epoch_permutation(11, 3, 2)
    ranks = [ResumableSampler(data, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    for sampler in ranks:
        sampler.set_epoch(2)
    assert [len(s) for s in ranks] == [5, 5]
    assert sorted(list(ranks[0]) + list(ranks[1])) == sorted(epoch_permutation(11, 3, 2)[:10])
    loader = ResumableLoader(data, batch_size=2, sampler=ResumableSampler(data, seed=3))
    loader.load_state_dict({"epoch": 2, "batches": 3})
    rest = [batch.tolist() for batch in loader]
    full = [batch.tolist() for batch in ResumableLoader(data, batch_size=2, sampler=whole)]
    assert rest == full[3:] and loader.state_dict() == {"epoch": 2, "batches": len(full)}
    assert len([batch for batch in loader]) == len(full)  # the skip is for one pass only
    loader.load_state_dict({"epoch": 2, "batches": 3})
    loader.sampler.set_epoch(3)  # the resume went on to the next epoch first
    assert len([batch for batch in loader]) == len(full)  # the skip was for epoch 2 only


# ------------------------------------------------------------------- two processes
DDP = ["trainer=ddp_cpu", f"trainer.limit_train_batches={PER_EPOCH}"]


@pytest.fixture(scope="module")
def uninterrupted_ddp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("ddp") / "r0"
    result = cli(run, *DDP, f"max_batches={TOTAL}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "MEMBER: 2/2" in result.stdout + result.stderr  # two processes really ran
    return run


@pytest.mark.skipif(sys.platform != "linux", reason="DDP on CPU processes: Linux only here")
def _ddp_stop_then_resume(
    uninterrupted: Path, tmp_path: Path, stop: list[str], exit_code: int, saved_batches: int
) -> None:
    """Run DDP until ``stop`` interrupts it (exit ``exit_code``, ``last.ckpt`` holding
    ``saved_batches``), resume from that file, and match the uninterrupted run."""
    first, second = tmp_path / "first", tmp_path / "second"
    stopped = cli(first, *DDP, f"max_batches={TOTAL}", *stop)
    assert stopped.returncode == exit_code, stopped.stderr[-2000:]
    last = first / "checkpoints" / "last.ckpt"
    assert read_checkpoint(last)["callbacks"]["TrainingPosition"]["batches"] == saved_batches
    resumed = cli(second, *DDP, f"max_batches={TOTAL}", f"ckpt_path={last}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    d_loss, d_weight = compare(uninterrupted, [first, second])
    assert d_loss <= TOLERANCE and d_weight <= TOLERANCE


def test_ddp_cpu_sigterm_inside_an_epoch_resumes_exactly(
    uninterrupted_ddp: Path, tmp_path: Path
) -> None:
    _ddp_stop_then_resume(uninterrupted_ddp, tmp_path, send(signal.SIGTERM, 6), 143, 7)


@pytest.mark.skipif(sys.platform != "linux", reason="DDP on CPU processes: Linux only here")
def test_ddp_cpu_kill_9_of_every_rank_resumes_from_the_epoch_end_save_exactly(
    uninterrupted_ddp: Path, tmp_path: Path
) -> None:
    stop = send(signal.SIGKILL, 7, group=True)
    _ddp_stop_then_resume(uninterrupted_ddp, tmp_path, stop, -signal.SIGKILL, PER_EPOCH)


@pytest.mark.skipif(sys.platform != "linux", reason="DDP on CPU processes: Linux only here")
def test_ddp_cpu_run_stopped_at_an_epoch_end_extends_exactly(
    uninterrupted_ddp: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli(first, *DDP, f"max_batches={PER_EPOCH}").returncode == 0
    last = first / "checkpoints" / "last.ckpt"
    resumed = cli(second, *DDP, f"max_batches={TOTAL}", f"ckpt_path={last}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    d_loss, d_weight = compare(uninterrupted_ddp, [first, second])
    assert d_loss <= TOLERANCE and d_weight <= TOLERANCE


# ------------------------------------------------------------- a checkpoint in use
def test_a_checkpoint_in_use_is_named_and_its_wandb_run_is_not_shared(tmp_path: Path) -> None:
    from inpaintgan.run_lock import RUN_LOCK, claim_run

    old_run = tmp_path / "old"
    (old_run / "checkpoints").mkdir(parents=True)
    ckpt = old_run / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(b"")
    other = subprocess.Popen(["sleep", "60"])
    try:
        # the run that writes the checkpoint is still training
        (old_run / RUN_LOCK).write_text(f"{other.pid} {os.uname().nodename}\n")
        held, in_use = claim_run(tmp_path / "a", str(ckpt))
        assert in_use and f"process {other.pid}" in in_use and "still training" in in_use
        assert held == [tmp_path / "a" / RUN_LOCK]
        (old_run / RUN_LOCK).unlink()
        # a first resume takes the checkpoint; a second one at the same time is told so
        held, in_use = claim_run(tmp_path / "b", str(ckpt))
        assert in_use is None and len(held) == 2
        resumed_lock = held[1]
        resumed_lock.write_text(f"{other.pid} {os.uname().nodename}\n")  # as if another process
        _, in_use = claim_run(tmp_path / "c", str(ckpt))
        assert in_use and "resuming it already" in in_use
    finally:
        other.kill()
        other.wait()
    # the holder is gone: its lock is stale and the next resume takes it
    held, in_use = claim_run(tmp_path / "d", str(ckpt))
    assert in_use is None and len(held) == 2
    # two checkpoints of one W&B run (last and best) resumed at once: one W&B run id in use
    best = old_run / "checkpoints" / "best-epoch000.ckpt"
    best.write_bytes(b"")
    held, in_use = claim_run(tmp_path / "e", str(ckpt), "run123")
    assert in_use is None and held[1].name == ".wandb-run123.resumed.lock"
    held[1].write_text(f"{os.getppid()} {os.uname().nodename}\n")  # as if another process
    _, in_use = claim_run(tmp_path / "g", str(best), "run123")
    assert in_use and "resuming it already" in in_use


def test_a_resume_of_a_wandb_run_in_use_logs_to_a_new_wandb_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tiny = [*TINY, "logger=wandb", "callbacks.image_grid.every_n_batches=0"]
    first = tmp_path / "first"
    train(compose_train(tiny, first))
    last = first / "checkpoints" / "last.ckpt"
    run_id = read_checkpoint(last)["inpaintgan"]["wandb_run_id"]
    lock = last.with_name(f".wandb-{run_id}.resumed.lock")
    lock.write_text(f"{os.getppid()} {os.uname().nodename}\n")  # another resume, still running
    second = tmp_path / "second"
    with caplog.at_level("WARNING", logger="inpaintgan.train"):
        train(compose_train([*tiny, "trainer.max_epochs=2", f"ckpt_path={last}"], second))
    (line,) = [r.getMessage() for r in caplog.records if "is in use" in r.getMessage()]
    assert f"process {os.getppid()}" in line and f"new W&B run (not {run_id})" in line
    new_id = read_checkpoint(second / "checkpoints" / "last.ckpt")["inpaintgan"]["wandb_run_id"]
    assert new_id and new_id != run_id
    assert lock.is_file()  # the other process's lock is left alone
    assert not (second / ".running.lock").exists()  # this run's own lock is released
