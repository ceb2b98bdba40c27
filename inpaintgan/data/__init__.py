"""Data layer: image files → ``{"image", "mask", "name"}`` batches (see docs/data.md)."""

from inpaintgan.data.datamodule import InpaintingDataModule, ReportingDataLoader, collate
from inpaintgan.data.datasets import (
    CelebASource,
    FolderSource,
    ImageSource,
    InpaintingDataset,
    Places2Source,
    SampleSource,
)
from inpaintgan.data.images import load_mask, load_rgb
from inpaintgan.data.masks import CenterMask, FolderMask, IrregularMask, MixedMask, RectMask
from inpaintgan.errors import DataError, ImageLoadError

__all__ = [
    "CelebASource",
    "CenterMask",
    "DataError",
    "FolderMask",
    "FolderSource",
    "ImageLoadError",
    "ImageSource",
    "InpaintingDataModule",
    "InpaintingDataset",
    "IrregularMask",
    "MixedMask",
    "Places2Source",
    "RectMask",
    "ReportingDataLoader",
    "SampleSource",
    "collate",
    "load_mask",
    "load_rgb",
]
