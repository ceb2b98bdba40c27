"""`python -m inpaintgan.<command> --help`: a short page per command (conf/hydra/help/)."""

from __future__ import annotations

import pytest
from helpers import run_cli

# command -> options its page must name
MAIN_OPTIONS = {
    "train": ["+experiment=", "model=", "data=", "max_batches=", "trainer=", "ckpt="],
    "predict": ["ckpt=", "input=", "out=", "_mask.png", "mask_file=", "max_side="],
    "evaluate": ["ckpt=", "model=", "data=", "mask=", "out=", "max_images="],
    "export": ["ckpt=", "format=", "out=", "opset="],
    "report": ["runs=", "out=", "pairs="],
    "demo": ["ckpt=", "ckpts=", "model=", "port="],
    "bench": ["model=", "size=", "device=", "parts=", "out="],
    "prepare": ["data=", "out=", "overwrite="],
}


@pytest.mark.parametrize("command", sorted(MAIN_OPTIONS))
def test_help_is_a_short_page_naming_the_main_options(command: str) -> None:
    result = run_cli(f"inpaintgan.{command}", "--help", timeout=120)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    lines = text.strip().splitlines()
    assert len(lines) < 40, text
    assert lines[0].startswith(f"python -m inpaintgan.{command}"), text
    for option in MAIN_OPTIONS[command]:
        assert option in text, f"{command} --help does not name {option}:\n{text}"
    assert "Examples:" in text
    assert text.count(f"python -m inpaintgan.{command} ") >= 3  # usage + two examples
    assert "--cfg job" in text
    assert "Powered by Hydra" not in text  # Hydra's own page (and its config dump) is gone


def test_train_help_lists_only_trainable_models() -> None:
    text = run_cli("inpaintgan.train", "--help", timeout=120).stdout
    assert "paper | shiftnet | ce" in text
    for classical in ("telea", "mean_fill", " ns "):
        assert classical not in text


def test_predict_help_leaves_out_training_groups() -> None:
    text = run_cli("inpaintgan.predict", "--help", timeout=120).stdout
    for group in ("trainer", "optim", "logger", "sweep"):
        assert f"{group}=" not in text and f"{group}:" not in text
