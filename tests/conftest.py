"""Shared fixtures and session-wide settings (CPU threads, W&B offline).

Files the tests only read are made once per session here (a tiny exported checkpoint, random
LPIPS / FID weights); the plain helpers they are made with live in helpers.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from helpers import (
    make_tiny_checkpoint,
    random_alexnet_file,
    random_inception_file,
)


@pytest.fixture(autouse=True, scope="session")
def _quiet_and_fast() -> None:
    torch.set_num_threads(2)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny exported generator (helpers.make_tiny_checkpoint), shared: do not modify it."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="session")
def random_alexnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AlexNet weights file with RANDOM weights (LPIPS plumbing only), shared."""
    return random_alexnet_file(tmp_path_factory.mktemp("weights") / "random-alexnet.pth")


@pytest.fixture(scope="session")
def random_inception(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Inception v3 weights file with RANDOM weights (FID plumbing only), shared."""
    return random_inception_file(tmp_path_factory.mktemp("weights") / "random-inception.pth")


@pytest.fixture
def empty_torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TORCH_HOME: no cached LPIPS / FID weights are found (nor downloaded)."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home
