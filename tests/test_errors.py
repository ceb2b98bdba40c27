"""The one error family (inpaintgan.errors) and the one wrapper every command runs through."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from inpaintgan.checkpoints import CheckpointError as CheckpointErrorFromCheckpoints
from inpaintgan.data import DataError as DataErrorFromData
from inpaintgan.data import ImageLoadError as ImageLoadErrorFromData
from inpaintgan.errors import (
    CheckpointError,
    DataError,
    ImageLoadError,
    InputError,
    NonFiniteLossError,
    ReportError,
    UsageError,
    UserError,
    WriteError,
    run_command,
)
from inpaintgan.io import WriteError as WriteErrorFromIo
from inpaintgan.module import NonFiniteLossError as NonFiniteFromModule
from inpaintgan.report import ReportError as ReportErrorFromReport

KINDS = [
    UsageError,
    DataError,
    ImageLoadError,
    InputError,
    CheckpointError,
    ReportError,
    NonFiniteLossError,
]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_a_user_error_exiting_2(kind: type[UserError]) -> None:
    assert issubclass(kind, UserError) and kind.exit_code == 2
    assert issubclass(WriteError, UserError)


def test_the_old_names_are_the_same_classes_and_keep_their_builtin_bases() -> None:
    assert CheckpointErrorFromCheckpoints is CheckpointError
    assert DataErrorFromData is DataError and ImageLoadErrorFromData is ImageLoadError
    assert NonFiniteFromModule is NonFiniteLossError and ReportErrorFromReport is ReportError
    assert WriteErrorFromIo is WriteError
    for kind in (UsageError, DataError, ImageLoadError, CheckpointError, ReportError):
        assert issubclass(kind, ValueError)  # callers catching ValueError still catch them
    assert issubclass(NonFiniteLossError, RuntimeError)


def _raise(err: BaseException) -> None:
    raise err


def test_a_user_error_is_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        run_command("evaluate", _raise, CheckpointError("x.ckpt: not a checkpoint\nmore"))
    assert info.value.code == 2
    assert capsys.readouterr().err == "inpaintgan.evaluate: error: x.ckpt: not a checkpoint\n"


def test_the_body_result_is_returned_and_other_errors_propagate() -> None:
    assert run_command("report", lambda a, b=0: a + b, 2, b=3) == 5
    with pytest.raises(KeyError):
        run_command("report", _raise, KeyError("a bug keeps its traceback"))
    with pytest.raises(ValueError):
        run_command("report", _raise, ValueError("not a user error here"))


def test_a_user_error_wrapped_by_hydra_is_found_in_the_cause_chain(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrapped = RuntimeError("Error in call to target")
    wrapped.__cause__ = DataError("data.root /x does not exist")
    with pytest.raises(SystemExit) as info:
        run_command("train", _raise, wrapped)
    assert info.value.code == 2
    assert capsys.readouterr().err.strip() == "inpaintgan.train: error: data.root /x does not exist"


def test_also_adds_kinds_of_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run_command("bench", _raise, ValueError("unknown parts ['x']"), also=(ValueError,))
    assert info.value.code == 2
    assert "inpaintgan.bench: error: unknown parts ['x']" in capsys.readouterr().err


def test_an_os_error_is_a_failed_write_of_the_command_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    denied = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "out" / "a.csv"))
    with pytest.raises(SystemExit) as info:
        run_command("evaluate", _raise, denied, writes_to=tmp_path / "out", write_exit_code=1)
    assert info.value.code == 1
    assert capsys.readouterr().err.strip() == (
        f"inpaintgan.evaluate: error: cannot write {tmp_path / 'out' / 'a.csv'}: "
        "Permission denied (EACCES)"
    )
    with pytest.raises(OSError):  # without writes_to an OSError is not the user's
        run_command("evaluate", _raise, denied)


def test_log_puts_the_line_into_the_log_file_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = logging.FileHandler(tmp_path / "train.log")
    logging.getLogger().addHandler(handler)
    try:
        with pytest.raises(SystemExit):
            run_command("train", _raise, UsageError("max_batches=0: must be positive"), log=True)
        with pytest.raises(SystemExit):
            run_command("report", _raise, ReportError("runs: none found"))
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    log = (tmp_path / "train.log").read_text()
    assert "error: max_batches=0: must be positive" in log
    assert "runs: none found" not in log
    assert capsys.readouterr().err.count("error:") == 2
