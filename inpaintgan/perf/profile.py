"""``torch.profiler`` over one training step: time per network part and the top operators."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from inpaintgan.perf.steps import Parts, train_step

__all__ = ["network_groups", "profile_train_step"]

#: Labels of the generators' top-level parts (U-Net and Context Encoder); any other child
#: ``name`` is reported as ``G <name>``.
_GENERATOR_LABELS = {
    "down": "G encoder convs",
    "encoder": "G encoder convs",
    "se": "G SE blocks",
    "shift": "G shift",
    "up": "G decoder convs",
    "decoder": "G decoder convs",
}
_RANGE_PREFIX = "bench::"


def network_groups(parts: Parts) -> dict[str, list[nn.Module]]:
    """The modules of each reported group: the generator's top-level parts (each member of a
    ``ModuleList`` / ``ModuleDict``), D, and the VGG16 of the style loss."""
    groups: dict[str, list[nn.Module]] = defaultdict(list)
    for name, child in parts.generator.named_children():
        members = child.values() if isinstance(child, nn.ModuleDict) else child
        members = list(members) if isinstance(child, nn.ModuleList | nn.ModuleDict) else [child]
        groups[_GENERATOR_LABELS.get(name, f"G {name}")].extend(members)
    if parts.discriminator is not None:
        groups["D"].append(parts.discriminator)
    style = getattr(parts.loss, "style_features", None)
    if style is not None:
        groups["VGG16 (style)"].append(style)
    return dict(groups)


@contextlib.contextmanager
def _annotate_modules(groups: dict[str, list[nn.Module]]) -> Iterator[None]:
    """Wrap the forward of every module in a profiler range named after its group."""
    handles = []

    def add(module: nn.Module, name: str) -> None:
        ranges: list[Any] = []

        def pre(*_: Any) -> None:
            ranges.append(torch.profiler.record_function(_RANGE_PREFIX + name))
            ranges[-1].__enter__()

        def post(*_: Any) -> None:
            ranges.pop().__exit__(None, None, None)

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))

    for group, modules in groups.items():
        for module in modules:
            add(module, group)
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def profile_train_step(parts: Parts, batch: dict[str, Any], top: int = 15) -> dict[str, Any]:
    """One profiled training step: time per network part (forward and backward) and top ops.

    A backward op is charged to the part whose forward created its autograd node (matched by
    sequence number). Group times are CPU times, meaningful on the CPU only; on CUDA use the
    operator table (sorted by device time).
    """
    cuda = parts.settings.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    groups_of = network_groups(parts)
    with _annotate_modules(groups_of), profile(activities=activities) as prof:
        start = time.perf_counter()
        train_step(parts, batch)
        if cuda:
            torch.cuda.synchronize()
        step_ms = (time.perf_counter() - start) * 1e3
    events = prof.events()
    forward_ms: dict[str, float] = defaultdict(float)
    backward_ms: dict[str, float] = defaultdict(float)
    seq_group: dict[int, str] = {}
    for event in events:
        if event.name.startswith(_RANGE_PREFIX):
            if not _has_ancestor(event, _RANGE_PREFIX):
                forward_ms[event.name.removeprefix(_RANGE_PREFIX)] += event.cpu_time_total / 1e3
        elif event.sequence_nr >= 0 and not event.name.startswith("autograd::"):
            group = _ancestor_group(event)
            if group is not None:
                seq_group.setdefault(event.sequence_nr, group)
    for event in events:
        if event.name.startswith("autograd::engine::evaluate_function:") and (
            event.sequence_nr in seq_group
        ):
            backward_ms[seq_group[event.sequence_nr]] += event.cpu_time_total / 1e3
        elif event.name.startswith("Optimizer.step#"):
            forward_ms["optimiser steps"] += event.cpu_time_total / 1e3
    groups = {
        name: {
            "forward_ms": round(forward_ms.get(name, 0.0), 1),
            "backward_ms": round(backward_ms.get(name, 0.0), 1),
        }
        for name in [*groups_of, "optimiser steps"]
        if name in forward_ms or name in backward_ms
    }
    accounted = sum(g["forward_ms"] + g["backward_ms"] for g in groups.values())
    groups["other (losses, Gram, norms, glue)"] = {
        "forward_ms": round(max(0.0, step_ms - accounted), 1),
        "backward_ms": 0.0,
    }
    sort_by = "self_device_time_total" if cuda else "self_cpu_time_total"
    averages = prof.key_averages()
    ops = sorted(averages, key=lambda e: getattr(e, sort_by, 0), reverse=True)
    ops = [op for op in ops if not op.key.startswith(_RANGE_PREFIX)][:top]
    return {
        "step_ms": round(step_ms, 1),
        "groups": groups,
        "group_times": "cpu" if not cuda else "cpu (host side only)",
        "top_ops": [
            {
                "name": op.key,
                "calls": op.count,
                "self_cpu_ms": round(op.self_cpu_time_total / 1e3, 2),
                **(
                    {"self_cuda_ms": round(getattr(op, "self_device_time_total", 0) / 1e3, 2)}
                    if cuda
                    else {}
                ),
            }
            for op in ops
        ],
    }


def _ancestor_group(event: Any) -> str | None:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith(_RANGE_PREFIX):
            return parent.name.removeprefix(_RANGE_PREFIX)
        parent = parent.cpu_parent
    return None


def _has_ancestor(event: Any, prefix: str) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith(prefix):
            return True
        parent = parent.cpu_parent
    return False
