"""Safe by construction (issue 21): a file never runs code, writers never replace what they
did not create, no number comes from nothing, every mistake is one line. docs/reliability.md
lists each case with its test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import run_cli
from PIL import Image
from test_evaluate import TINY_GENERATOR, make_tiny_checkpoint

from inpaintgan.checkpoints import (
    build_generator,
    check_generator_config,
    checkpoint_metadata,
    load_generator,
)
from inpaintgan.errors import CheckpointError, UserError
from inpaintgan.inpainter import load_inpainter


def _photo(path: Path, size: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def _mask(path: Path, size: int = 40, hole: bool = True) -> Path:
    array = np.zeros((size, size), np.uint8)
    if hole:
        array[size // 4 : size // 2, size // 4 : size // 2] = 255
    Image.fromarray(array).save(path)
    return path


def _hostile_checkpoint(path: Path, generator: dict[str, Any]) -> Path:
    """An exported-generator file whose config names ``generator`` (weights of the tiny one)."""
    tiny = make_tiny_checkpoint(path.with_name("tiny_source.pt"))
    state = torch.load(tiny, weights_only=True)["generator"]
    config = {"model": {"name": "paper", "generator": generator}, "data": {"size": 128}}
    torch.save({"inpaintgan": checkpoint_metadata(config), "generator": state}, path)
    return path


# ------------------------------------------------ 1. a checkpoint never runs code on load
HOSTILE = {
    "open": lambda victim: {"_target_": "builtins.open", "_args_": [str(victim), "w"]},
    "known class, extra _args_": lambda victim: {**TINY_GENERATOR, "_args_": [str(victim)]},
    "known class, unknown argument": lambda victim: {**TINY_GENERATOR, "path": str(victim)},
    "nested target": lambda victim: {
        **TINY_GENERATOR,
        "se_block": {"_target_": "builtins.open", "_args_": [str(victim), "w"]},
    },
    "nested unknown argument": lambda victim: {
        **TINY_GENERATOR,
        "se_block": {
            "_target_": "inpaintgan.models.se_block.ImprovedSEBlock",
            "_partial_": True,
            "file": str(victim),
        },
    },
    "config in a plain argument": lambda victim: {
        **TINY_GENERATOR,
        "norm": {"_target_": "builtins.open", "_args_": [str(victim), "w"]},
    },
    "recursive flag": lambda victim: {**TINY_GENERATOR, "_recursive_": False},
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_checkpoint_naming_other_code_is_refused_before_anything_runs(
    tmp_path: Path, kind: str
) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    ckpt = _hostile_checkpoint(tmp_path / "evil.pt", HOSTILE[kind](victim))
    with pytest.raises(CheckpointError) as caught:
        load_generator(ckpt)
    message = str(caught.value)
    assert "\n" not in message and str(ckpt) in message and "refused" in message
    assert victim.read_text() == "keep me"
    with pytest.raises(CheckpointError):  # the Python API shares the path
        load_inpainter(ckpt, device="cpu")
    assert victim.read_text() == "keep me"


def test_the_allow_list_rebuilds_the_package_generators(tmp_path: Path) -> None:
    generator, config = load_generator(make_tiny_checkpoint(tmp_path / "tiny.pt"))
    assert type(generator).__name__ == "UNetGenerator" and config.model.name == "paper"
    se = {
        **TINY_GENERATOR,
        "se_levels": [2],
        "se_block": {
            "_target_": "inpaintgan.models.se_block.ImprovedSEBlock",
            "_partial_": True,
            "reduction": 4,
        },
    }
    built = build_generator({"model": {"generator": se}}, "x.pt")
    assert any(type(m).__name__ == "ImprovedSEBlock" for m in built.modules())
    ce = {"_target_": "inpaintgan.models.context_encoder.ContextEncoder", "image_size": 64}
    assert type(build_generator({"model": {"generator": ce}}, "x.pt")).__name__ == "ContextEncoder"


def test_predict_cli_with_a_hostile_checkpoint_leaves_the_file_and_exits_in_one_line(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    ckpt = _hostile_checkpoint(tmp_path / "evil.ckpt", HOSTILE["open"](victim))
    (tmp_path / "in").mkdir()
    photo = _photo(tmp_path / "in" / "a.png")
    _mask(tmp_path / "in" / "a_mask.png")
    result = run_cli(
        "inpaintgan.predict", f"ckpt={ckpt}", f"input={photo.parent}", f"output={tmp_path / 'o'}"
    )
    assert result.returncode != 0
    assert victim.read_text() == "keep me"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused" in lines[0] and str(ckpt) in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_an_export_whose_metadata_names_other_code_is_refused(tmp_path: Path) -> None:
    bad = {"model": {"generator": {"_target_": "os.system", "_args_": ["true"]}}}
    with pytest.raises(CheckpointError, match="refused"):
        check_generator_config(bad, "model.onnx")
    check_generator_config({"model": {"generator": TINY_GENERATOR}}, "model.onnx")
    check_generator_config({}, "model.onnx")  # no config: nothing would be built


def test_a_classical_config_naming_other_code_is_refused(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    cfg = OmegaConf.create(
        {"name": "x", "inpainter": {"_target_": "builtins.open", "_args_": [str(victim), "w"]}}
    )
    with pytest.raises(UserError, match="refused"):
        load_inpainter(None, cfg, "cpu")
    assert victim.read_text() == "keep me"
    telea = OmegaConf.create(
        {"name": "telea", "inpainter": {"_target_": "inpaintgan.classical.ClassicalInpainter"}}
    )
    assert load_inpainter(None, telea, "cpu").name == "telea"
