"""Speed plumbing of training, apart from the GAN logic: the channels_last rule and layout,
torch.compile of the networks, and the optimiser-state layout after a resume."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

__all__ = ["align_optimizer_state", "apply_memory_format", "channels_last_for", "compile_networks"]


def channels_last_for(setting: bool | str, device: torch.device) -> bool:
    """The ``channels_last`` rule: ``auto`` means on CUDA (tensor cores want NHWC; on the CPU
    oneDNN is faster with NCHW here); ``true`` / ``false`` as given."""
    if setting not in (True, False, "auto"):
        raise ValueError(f"channels_last must be true, false or auto, got {setting!r}")
    if setting == "auto":
        return device.type == "cuda"
    return bool(setting)


def apply_memory_format(module: nn.Module, setting: bool | str, device: torch.device) -> None:
    """Put every parameter of ``module`` in channels_last when the rule says so for ``device``
    (convolutions then produce channels_last activations whatever the input's layout)."""
    if channels_last_for(setting, device):
        module.to(memory_format=torch.channels_last)


def compile_networks(*networks: nn.Module | None) -> None:
    """``torch.compile`` each network in place (``nn.Module.compile``: parameters and
    checkpoint keys stay the same); None entries are skipped."""
    for network in networks:
        if network is not None:
            network.compile()


def align_optimizer_state(optimizers: Iterable[torch.optim.Optimizer]) -> None:
    """Give every optimiser-state tensor its parameter's strides: a resumed state saved with
    another layout (channels_last or not) would be paired element by element in memory order
    by fused Adam, a silently wrong update."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            for param in group["params"]:
                state = optimizer.state.get(param, {})
                for key, value in state.items():
                    if (
                        isinstance(value, Tensor)
                        and value.shape == param.shape
                        and value.stride() != param.stride()
                    ):
                        state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
