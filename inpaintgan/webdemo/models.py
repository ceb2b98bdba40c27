"""The inpainters a demo offers: checkpoints and the classical methods of ``conf/classical``.

A classical method is a ``conf/classical/model/<name>.yaml`` with an ``inpainter`` key (telea,
ns, mean_fill); it is read with OmegaConf and built by :func:`inpaintgan.inpainter.load_inpainter`
like any other model config.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from inpaintgan.config import CLASSICAL_CONFIG_DIR
from inpaintgan.errors import UsageError
from inpaintgan.inpainter import Inpainter, load_inpainter

__all__ = ["classical_configs", "load_inpainters", "unique_labels"]


def classical_configs(folder: str | Path = CLASSICAL_CONFIG_DIR) -> dict[str, DictConfig]:
    """``{name: model config}`` of every ``*.yaml`` in ``folder`` (conf/classical/model/) with
    an ``inpainter`` key, by name."""
    found = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        cfg = OmegaConf.load(path)
        if isinstance(cfg, DictConfig) and cfg.get("inpainter") is not None:
            found[path.stem] = cfg
    return found


def unique_labels(paths: Sequence[str | Path]) -> list[str]:
    """Short distinct labels for checkpoint paths: the file name, with as many parent
    folders as it takes to tell two apart (``a/last.ckpt`` and ``b/last.ckpt``)."""
    parts = [Path(p).parts for p in paths]
    depth = 1
    while True:
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels) or depth >= max((len(p) for p in parts), default=1):
            return labels
        depth += 1


def load_inpainters(
    ckpts: Iterable[str | Path] = (),
    classical: Iterable[str] = (),
    device: str | None = "auto",
    model_cfg: DictConfig | None = None,
) -> dict[str, Inpainter]:
    """``{label: inpainter}`` in menu order: the checkpoints, then ``model_cfg`` (a classical
    model config, e.g. Hydra's ``model=telea``), then the ``classical`` names not yet listed.

    Raises :class:`UsageError` for an unknown classical name or an empty menu; a bad
    checkpoint raises the :class:`CheckpointError` of ``load_inpainter``.
    """
    ckpts = [str(c) for c in ckpts]
    inpainters: dict[str, Inpainter] = {}
    for label, ckpt in zip(unique_labels(ckpts), ckpts, strict=True):
        if label in inpainters:
            raise UsageError(f"checkpoint {ckpt} is listed twice")
        inpainters[label] = load_inpainter(ckpt, None, device)
    available = classical_configs()
    wanted: list[tuple[str, DictConfig]] = []
    if model_cfg is not None:
        wanted.append((str(model_cfg.get("name") or "model"), model_cfg))
    for name in classical:
        if name not in available:
            raise UsageError(
                f"models: {name} is not a classical method (one of {', '.join(available)}); "
                "trained models go in ckpts=[...]"
            )
        wanted.append((name, available[name]))
    for name, cfg in wanted:
        if name not in inpainters:
            inpainters[name] = load_inpainter(None, cfg, device)
    if not inpainters:
        raise UsageError(
            "nothing to offer: pass ckpt=PATH, ckpts=[A,B], model=telea or models=[telea,ns]"
        )
    return inpainters
