"""Data layer: image files → ``{"image", "mask", "name"}`` batches (see docs/data.md).

Loaders yield uint8 images and bool masks; :func:`to_float_batch` gives float [0, 1] (the
data module does it on the device during training).
"""

from inpaintgan.data.datamodule import (
    InpaintingDataModule,
    collate,
    image_to_float,
    mask_to_float,
    to_float_batch,
)
from inpaintgan.data.datasets import (
    CelebASource,
    FolderSource,
    ImageSource,
    InpaintingDataset,
    Places2Source,
    SampleSource,
)
from inpaintgan.data.images import load_mask, load_rgb
from inpaintgan.data.loaders import ReportingDataLoader
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
    "image_to_float",
    "load_rgb",
    "mask_to_float",
    "to_float_batch",
]
