"""The one atomic writer (inpaintgan.io.atomic_file) and what writes through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintgan.inpainter import save_png
from inpaintgan.io import atomic_file, atomic_torch_save


def test_atomic_file_writes_and_creates_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "file.bin"
    with atomic_file(path) as handle:
        handle.write(b"new")
    assert path.read_bytes() == b"new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.bin"]


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_a_failed_block_keeps_the_previous_file_and_leaves_no_temporary(
    tmp_path: Path, failure: BaseException
) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")
    with pytest.raises(type(failure)):
        with atomic_file(path) as handle:
            handle.write(b"partial")
            raise failure
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_torch_saves_and_pngs_go_through_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """atomic_torch_save (checkpoints, exports) and save_png (evaluate, predict) both end in
    atomic_file: with the rename refused, neither leaves a file or a temporary behind."""
    atomic_torch_save({"w": torch.ones(2)}, tmp_path / "ok.pt")
    assert torch.load(tmp_path / "ok.pt", weights_only=True)["w"].sum() == 2

    def refuse(src: object, dst: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("inpaintgan.io.os.replace", refuse)
    with pytest.raises(PermissionError):
        save_png(torch.zeros(3, 4, 4), tmp_path / "out.png")
    with pytest.raises(Exception, match="Permission denied"):
        atomic_torch_save({"w": torch.ones(2)}, tmp_path / "refused.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.pt"]
    monkeypatch.undo()
    save_png(torch.ones(3, 4, 4), tmp_path / "out.png")
    assert np.asarray(Image.open(tmp_path / "out.png")).min() == 255
