"""Session-wide settings for the test suite (CPU threads, W&B offline)."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _quiet_and_fast() -> None:
    torch.set_num_threads(2)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
