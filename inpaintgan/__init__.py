"""inpaintgan: GAN image inpainting with an improved SE block and a shift-connection U-Net.

``from inpaintgan import load_inpainter`` is the Python entry point (README, "Use a trained
model from Python"). The names below are imported on first use, so ``import inpaintgan``
itself stays light (no torch, no Hydra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Inpainter": "inpaintgan.inpainter",
    "load_inpainter": "inpaintgan.inpainter",
    "ExportableInpainter": "inpaintgan.exporting",
}

__all__ = ["ExportableInpainter", "Inpainter", "__version__", "load_inpainter"]

if TYPE_CHECKING:
    from inpaintgan.exporting import ExportableInpainter
    from inpaintgan.inpainter import Inpainter, load_inpainter


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'inpaintgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
