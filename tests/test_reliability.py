"""Reliability (issue 13): nothing a user owns is overwritten or lost, evaluation never scores
a stand-in, and every mistake or fault is one line. docs/reliability.md lists the cases."""

from __future__ import annotations

import csv
import errno
import json
import logging
import os
import signal
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from helpers import TINY, compose_train, make_tiny_checkpoint, run_cli
from helpers import compose_predict as _predict_cfg
from helpers import noise_photo as _photo
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image

import inpaintgan.errors as errors_module
import inpaintgan.io as io_module
import inpaintgan.predict as predict_module
from inpaintgan.callbacks import LastCheckpoint
from inpaintgan.checkpoints import CheckpointError, checkpoint_metadata, export_generator
from inpaintgan.config import CONFIG_DIR
from inpaintgan.data.datasets import InpaintingDataset
from inpaintgan.data.images import DataError
from inpaintgan.data.masks import CenterMask, FolderMask
from inpaintgan.errors import UsageError, UserError, find_user_error, log_to_files
from inpaintgan.evaluation import evaluate
from inpaintgan.inpainter import resolve_device
from inpaintgan.io import WriteError, atomic_torch_save
from inpaintgan.predict import predict
from inpaintgan.run_checks import check_config, check_resume
from inpaintgan.train import train


def _broken(path: Path) -> None:
    path.write_bytes(b"not an image at all")


# ----------------------------------------------------------------------- 1. run folders
def _run_dirs(config_name: str, key: str) -> str:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=config_name, return_hydra_config=True)
    return str(OmegaConf.select(cfg, key))


def test_two_runs_started_in_the_same_second_get_different_folders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hydra's clock frozen at one instant: single runs, multiruns and evaluations of that
    second still each get their own folder."""
    import hydra.core.utils

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:
            return datetime(2026, 1, 1, 12, 0, 0)

    monkeypatch.setattr(hydra.core.utils, "datetime", Frozen)
    for config_name, key in (
        ("train", "hydra.run.dir"),
        ("train", "hydra.sweep.dir"),
        ("evaluate", "out"),
    ):
        first, second = _run_dirs(config_name, key), _run_dirs(config_name, key)
        assert "2026-01-01/12-00-00" in first and "2026-01-01/12-00-00" in second
        assert first != second, (config_name, key, first)


# ------------------------------------------------------ 2. outputs never replace inputs
def test_predict_refuses_an_output_that_is_or_holds_an_input(tmp_path: Path) -> None:
    src = tmp_path / "photos"
    src.mkdir()
    _photo(src / "a.png")
    original = (src / "a.png").read_bytes()
    refused = [
        [f"input={src}", f"output={src}"],  # the input folder itself
        [f"input={src}", f"output={src}/"],
        [f"input={src / 'a.png'}", f"output={src / 'a.png'}"],  # the input file itself
        [f"input={src / 'a.png'}", f"output={src}"],  # the folder holding the input
    ]
    for overrides in refused:
        with pytest.raises(UsageError, match="input") as info:
            predict(_predict_cfg([*overrides, "model=telea", "mask=center", "overwrite=true"]))
        assert "\n" not in str(info.value)
    assert (src / "a.png").read_bytes() == original
    assert sorted(p.name for p in src.iterdir()) == ["a.png"]


def test_predict_cli_output_equal_to_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    src = tmp_path / "d"
    src.mkdir()
    _photo(src / "photo.png")
    original = (src / "photo.png").read_bytes()
    result = run_cli(
        "inpaintgan.predict", "model=telea", f"input={src}", f"output={src}", "mask=center"
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "holds the input" in result.stderr
    assert (src / "photo.png").read_bytes() == original


def test_predict_never_overwrites_an_existing_file_unless_asked(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    _photo(src / "a.png")
    (out / "a.png").write_bytes(b"mine")
    args = [f"input={src}", f"output={out}", "model=telea", "mask=center"]
    with pytest.raises(UsageError, match="overwrite=true"):
        predict(_predict_cfg(args))
    assert (out / "a.png").read_bytes() == b"mine"
    assert predict(_predict_cfg([*args, "overwrite=true"])) == (1, 0)
    assert Image.open(out / "a.png").size == (40, 40)


def test_export_refuses_out_equal_to_ckpt(tmp_path: Path) -> None:
    ckpt = make_tiny_checkpoint(tmp_path / "model.ckpt")
    before = ckpt.read_bytes()
    with pytest.raises(CheckpointError, match="checkpoint itself"):
        export_generator(ckpt, ckpt)
    with pytest.raises(CheckpointError, match="checkpoint itself"):
        export_generator(ckpt, tmp_path / "." / "model.ckpt")
    assert ckpt.read_bytes() == before


# ----------------------------------------------------- 3. evaluation scores no stand-in
def _evaluate_folder(root: Path, out: Path) -> dict[str, Any]:
    overrides = [
        "data=folder",
        f"data.root={root}",
        "data.size=32",
        "data.num_workers=0",
        "model=mean_fill",
        "device=cpu",
        "progress=false",
        "batch_size=2",
        f"out={out}",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=overrides, return_hydra_config=True)
    return evaluate(cfg, cfg.hydra.runtime.choices)


def test_evaluate_scores_each_readable_file_once_and_lists_the_broken(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    for i, name in enumerate(["a", "c", "e"]):
        _photo(root / f"{name}.png", seed=i)
    for name in ["b", "d"]:  # sorted between readable files: they used to be replaced
        _broken(root / f"{name}.png")
    out = tmp_path / "eval"
    summary = _evaluate_folder(root, out)
    assert summary["n_images"] == 3
    assert summary["n_skipped"] == 2
    assert sorted(Path(p).name for p in summary["skipped_files"]) == ["b.png", "d.png"]
    written = json.loads((out / "metrics.json").read_text())
    assert written["n_skipped"] == 2 and written["n_images"] == 3
    with (out / "per_image.csv").open(newline="") as handle:
        names = [row["name"] for row in csv.DictReader(handle)]
    assert sorted(names) == ["a", "c", "e"]


def test_training_still_draws_a_replacement_and_counts_it(tmp_path: Path) -> None:
    _photo(tmp_path / "a.png")
    _broken(tmp_path / "b.png")
    dataset = InpaintingDataset(sorted(tmp_path.iterdir()), 32, CenterMask(), train=True)
    sample = dataset[1]
    assert sample["name"] == "a" and len(sample["skipped"]) == 1
    assert "b.png" in sample["skipped"][0]


def test_all_broken_messages_say_how_many_and_blame_the_right_folder(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in "abcd":
        _broken(images / f"{name}.png")
    dataset = InpaintingDataset(sorted(images.iterdir()), 32, CenterMask(), train=True)
    with pytest.raises(DataError) as info:
        dataset[0]
    message = str(info.value).replace(str(tmp_path), "<tmp>")  # tmp paths hold digits too
    assert "all 4 image files" in message and "16" not in message
    masks = tmp_path / "masks"
    masks.mkdir()
    for name in "xy":
        _broken(masks / f"{name}.png")
    _photo(images / "ok.png")
    dataset = InpaintingDataset([images / "ok.png"], 32, FolderMask(masks), train=True)
    with pytest.raises(DataError) as info:
        dataset[0]
    assert "mask.root" in str(info.value) and "data.root" not in str(info.value)


# ------------------------------------------------------------ 4. config checked at start
@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("loss.rec_weight=nan", "loss.rec_weight"),
        ("loss.rec_weight=-1", "loss.rec_weight"),
        ("loss.style_weight=inf", "loss.style_weight"),
        ("data.size=-64", "data.size"),
        ("data.batch_size=0", "data.batch_size"),
        ("data.size=100", "data.size=100"),
        ("max_bad_batches=0", "max_bad_batches=0"),
        ("max_bad_steps=1.5", "max_bad_steps=1.5"),  # the deprecated name, checked as given
    ],
)
def test_bad_values_are_refused_before_anything_is_built(
    override: str, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_build(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("built before the config was checked")

    monkeypatch.setattr("inpaintgan.train.build_module", must_not_build)
    monkeypatch.setattr("inpaintgan.train.pl.seed_everything", must_not_build)
    cfg = compose_train([*TINY, override], tmp_path)
    with pytest.raises(UserError) as info:
        train(cfg)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_size_message_names_sizes_that_work(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"multiple of 16, e\.g\. 32, 64, 128"):
        check_config(compose_train([*TINY, "data.size=100"], tmp_path))
    check_config(compose_train(TINY, tmp_path))  # the tiny config itself passes


def test_a_device_this_machine_lacks_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    for device in ("cuda", "cuda:1"):
        with pytest.raises(UsageError, match="no CUDA GPU"):
            resolve_device(device)
    with pytest.raises(UsageError, match="not a device name"):
        resolve_device("gpu0")
    assert resolve_device("auto").type == "cpu"


# --------------------------------------------------------------- 5. resume checks first
def _training_checkpoint(path: Path, cfg: Any) -> Path:
    """A checkpoint with Lightning's top-level keys and the inpaintgan block of ``cfg``."""
    torch.save(
        {
            "pytorch-lightning_version": "2.6.0",
            "state_dict": {},
            "inpaintgan": checkpoint_metadata(cfg),
        },
        path,
    )
    return path


def test_resume_refuses_an_exported_generator(tmp_path: Path) -> None:
    exported = make_tiny_checkpoint(tmp_path / "generator.pt")
    cfg = compose_train([*TINY, f"ckpt_path={exported}"], tmp_path / "run")
    with pytest.raises(UserError, match="exported generator") as info:
        check_resume(str(exported), cfg)
    assert "predict" in str(info.value) and "\n" not in str(info.value)


def test_resume_refuses_another_variant_or_width_naming_the_mismatch(tmp_path: Path) -> None:
    wide = _training_checkpoint(
        tmp_path / "wide.ckpt",
        compose_train([*TINY, "model.generator.base_channels=16"], tmp_path / "a"),
    )
    cfg = compose_train(TINY, tmp_path / "b")
    with pytest.raises(UserError, match="model.generator.base_channels: checkpoint 16, config 8"):
        check_resume(str(wide), cfg)
    other = _training_checkpoint(
        tmp_path / "ce.ckpt", compose_train([*TINY, "model=shiftnet"], tmp_path / "c")
    )
    with pytest.raises(UserError, match="model.name: checkpoint 'shiftnet', config 'paper'"):
        train(compose_train([*TINY, f"ckpt_path={other}"], tmp_path / "d"))
    same = _training_checkpoint(tmp_path / "same.ckpt", cfg)
    assert check_resume(str(same), cfg)["format"] == 1


# --------------------------------------------------------------------- 6. write failures
def test_disk_full_is_one_line_leaves_no_temp_file_and_keeps_the_previous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "checkpoints" / "last.ckpt"
    atomic_torch_save({"step": 1}, target)
    previous = target.read_bytes()

    def full_disk(obj: Any, handle: Any) -> None:
        handle.write(b"partial bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io_module.torch, "save", full_disk)
    with pytest.raises(WriteError) as info:
        atomic_torch_save({"step": 2}, target)
    message = str(info.value)
    assert str(target) in message and "No space left on device" in message
    assert "\n" not in message
    assert target.read_bytes() == previous
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]
    # torch reports ENOSPC as a bare RuntimeError: a (nearly) full disk is named anyway.
    monkeypatch.setattr(
        io_module.torch, "save", lambda obj, handle: (_ for _ in ()).throw(RuntimeError("pos"))
    )
    monkeypatch.setattr(errors_module.shutil, "disk_usage", lambda p: SimpleNamespace(free=0))
    with pytest.raises(WriteError, match="No space left on device"):
        atomic_torch_save({"step": 3}, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]
    # train's entry point turns it into its one line.
    assert isinstance(find_user_error(RuntimeError("wrapped")), type(None))
    wrapped = RuntimeError("hydra")
    wrapped.__cause__ = info.value
    assert find_user_error(wrapped) is info.value


def test_read_only_output_is_one_line_in_export_and_predict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = make_tiny_checkpoint(tmp_path / "model.ckpt")

    def read_only(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(io_module.torch, "save", read_only)
    with pytest.raises(WriteError, match="Read-only file system"):
        export_generator(ckpt, tmp_path / "out" / "generator.pt")
    assert not (tmp_path / "out" / "generator.pt").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_failed_run_writes_its_reason_into_the_log_file(tmp_path: Path) -> None:
    handler = logging.FileHandler(tmp_path / "train.log")
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        log_to_files("error: data.size=-64: must be a positive whole number")
    finally:
        root.removeHandler(handler)
        handler.close()
    assert "data.size=-64" in (tmp_path / "train.log").read_text()


def test_last_checkpoint_saves_say_weights_only_explicitly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lightning logs '`weights_only` was not set' on saves that leave it None."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    calls: list[dict[str, Any]] = []
    trainer = SimpleNamespace(
        fast_dev_run=False, save_checkpoint=lambda path, **kw: calls.append(kw)
    )
    monkeypatch.setattr(ModelCheckpoint, "on_train_end", lambda *args, **kwargs: None)
    LastCheckpoint(dirpath=".").on_train_end(trainer, None)  # type: ignore[arg-type]
    assert calls == [{"weights_only": False}]


# ------------------------------------------------------------ 7. Ctrl-C and SIGTERM save
class SignalAfterFirstBatch:
    """Test callback: sends ``signum`` to this process after the first training batch."""

    def __new__(cls, signum: int) -> Any:
        import pytorch_lightning as pl

        class _Send(pl.Callback):
            def on_train_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
                if trainer.fit_loop.epoch_loop.total_batch_idx == 1:
                    os.kill(os.getpid(), signum)

        return _Send()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_saves_last_ckpt_and_says_where(
    signum: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = compose_train(
        [
            *TINY,
            "trainer.limit_train_batches=4",
            f"+callbacks.send_signal._target_={__name__}.SignalAfterFirstBatch",
            f"+callbacks.send_signal.signum={int(signum)}",
        ],
        tmp_path,
    )
    # As in a terminal: a shell that starts jobs in the background hands them SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler of its own.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(BaseException) as info:  # noqa: PT011 - SystemExit or SIGTERMException
            train(cfg)
    finally:
        signal.signal(signal.SIGINT, previous)
    # Exit 130 / 143 (a scheduler must not read a stopped run as a success); the batch in
    # progress is finished first, so the saved state is between two batches (issue 24).
    assert isinstance(info.value, SystemExit) and info.value.code == 128 + signum
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert last.is_file()
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["global_step"] == 4  # the two batches trained (two optimiser steps each)
    assert state["callbacks"]["TrainingPosition"]["batches"] == 2
    assert str(last) in capsys.readouterr().err


# ------------------------------------------------- 8. predict goes on past a bad image
def test_predict_goes_on_past_out_of_memory_and_names_the_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    _photo(src / "huge.png", 48)
    _photo(src / "small.png", 40)
    real = predict_module.inpaint_any_size

    def oom_on_huge(inpainter: Any, image: torch.Tensor, *args: Any) -> torch.Tensor:
        if image.shape[-1] == 48:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")
        return real(inpainter, image, *args)

    monkeypatch.setattr(predict_module, "inpaint_any_size", oom_on_huge)
    done, failed = predict(
        _predict_cfg([f"input={src}", f"output={out}", "model=telea", "mask=center"])
    )
    assert (done, failed) == (1, 1)
    err = capsys.readouterr().err
    assert "huge.png" in err and "out of memory" in err
    assert sorted(p.name for p in out.iterdir()) == ["small.png"]


def test_predict_write_failure_names_the_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    _photo(src / "a.png")

    def full_disk(self: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> None:
        if hasattr(fp, "write"):  # a handle (io.atomic_file) or a path: half a file, then ENOSPC
            fp.write(b"partial")
        else:
            Path(fp).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    done, failed = predict(
        _predict_cfg([f"input={src}", f"output={out}", "model=telea", "mask=center"])
    )
    assert (done, failed) == (0, 1)
    err = capsys.readouterr().err
    assert "a.png" in err and "No space left on device" in err
    assert list(out.iterdir()) == []


def test_an_unwritable_run_folder_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    result = run_cli("inpaintgan.evaluate", "model=mean_fill", f"out={blocker}/eval")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
    assert f"{blocker}/eval" in result.stderr and "Not a directory" in result.stderr
    sweep = OmegaConf.create({"hydra": {"sweep": {"dir": str(blocker / "sweep")}}})
    with pytest.raises(SystemExit) as info:
        io_module.OutputFolderCheck().on_multirun_start(sweep)
    assert info.value.code == 1
    io_module.check_writable_folder(tmp_path / "fine" / "run")  # a writable one passes
    assert list((tmp_path / "fine" / "run").iterdir()) == []  # and keeps no probe file
