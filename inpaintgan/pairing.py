"""Which files ``python -m inpaintgan.predict`` inpaints, and where each result goes.

The pairing rules: ``name.(png|jpg|jpeg|webp|bmp)`` goes with ``name_mask.png`` beside it
(white = fill; LaMa's convention; other image extensions are accepted for the mask too),
and is not an input itself; a single image takes ``mask_file=`` or its ``name_mask.png``;
each result is ``out/name.png`` (``name_jpg.png`` when two inputs share a stem), or ``out``
itself for a single image and a ``.png`` target (:func:`collect_jobs`). The output checks:
no result may replace an input or mix with a user's files (:func:`check_prediction_outputs`).
:func:`read_pair` reads one image and its mask (or draws one from the mask config), refusing
a mask of another size or without a hole in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor

from inpaintgan.data.images import IMAGE_EXTENSIONS, load_mask, load_rgb
from inpaintgan.errors import InputError, UsageError
from inpaintgan.io import check_outputs as check_writes
from inpaintgan.io import same_path
from inpaintgan.pixels import array_to_batch

__all__ = ["MASK_SUFFIX", "Job", "check_prediction_outputs", "collect_jobs", "read_pair"]

MASK_SUFFIX = "_mask"


@dataclass
class Job:
    """One image to inpaint: its mask file (None: use the mask config) and output path."""

    image: Path
    mask: Path | None
    output: Path


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def _mask_beside(image: Path) -> Path | None:
    """``name_mask.png`` next to ``name.*`` (other image extensions are accepted too)."""
    for ext in (".png", *IMAGE_EXTENSIONS):
        candidate = image.with_name(f"{image.stem}{MASK_SUFFIX}{ext}")
        if candidate.is_file():
            return candidate
    return None


def _output_names(images: list[Path]) -> list[str]:
    """``name.png`` per image; stems shared by two files keep their extension (a_jpg.png).
    Two images may still map to one name (``a.jpg`` + ``a_jpg.png``, ``b.jpg`` + ``b.JPG``):
    :func:`check_prediction_outputs` refuses those, naming both."""
    stems = [p.stem for p in images]
    return [
        f"{p.stem}_{p.suffix[1:].lower()}.png" if stems.count(p.stem) > 1 else f"{p.stem}.png"
        for p in images
    ]


def collect_jobs(input: str | Path, out: str | Path, mask_file: str | Path | None) -> list[Job]:
    """The images of ``input`` (a folder, or one file) with their masks and output paths.

    In a folder, ``name_mask.png`` is the mask of ``name.*``; it is not an input itself
    (a ``*_mask.*`` file without such an image is treated as an image).
    """
    source, output = Path(input), Path(out)
    if source.is_file():
        mask = Path(mask_file) if mask_file else _mask_beside(source)
        if mask is not None and not mask.is_file():
            raise UsageError(f"mask_file {mask}: no such file")
        is_file_target = output.suffix.lower() in IMAGE_EXTENSIONS
        target = output if is_file_target else output / f"{source.stem}.png"
        return [Job(source, mask, target)]
    if not source.is_dir():
        raise UsageError(f"input {source}: no such file or folder")
    if mask_file:
        raise UsageError("mask_file= goes with a single input image; a folder uses name_mask.png")
    files = sorted(p for p in source.iterdir() if _is_image(p))
    stems = {p.stem for p in files}
    images = [
        p
        for p in files
        if not (p.stem.endswith(MASK_SUFFIX) and p.stem[: -len(MASK_SUFFIX)] in stems)
    ]
    if not images:
        raise UsageError(f"input {source}: no images ({'/'.join(e[1:] for e in IMAGE_EXTENSIONS)})")
    names = _output_names(images)
    return [Job(p, _mask_beside(p), output / n) for p, n in zip(images, names, strict=True)]


def check_prediction_outputs(
    jobs: list[Job], input: str | Path, out: str | Path, overwrite: bool
) -> None:
    """Refuse (UsageError, one line) outputs that would replace or mix with a user's files.

    An output *folder* may not be, or hold, an input (``out=`` the input folder, or the
    folder of a single input image); the rest is the one rule of every writer
    (:func:`inpaintgan.io.check_outputs`): no output is an input image or mask, two images
    that map to one output name are refused naming both, and an existing output file is
    replaced only with ``overwrite=true``.
    """
    source, target = Path(input), Path(out)
    inputs = [p for job in jobs for p in (job.image, job.mask) if p is not None]
    is_file_target = source.is_file() and target.suffix.lower() in IMAGE_EXTENSIONS
    if not is_file_target:
        for original in inputs:
            if same_path(original.parent, target):
                raise UsageError(
                    f"out folder {target} holds the input {original}: the results could "
                    "replace your files; give another out= folder"
                )
    writes = [(str(job.image), job.output) for job in jobs]
    check_writes(writes, inputs, overwrite)


def read_pair(
    job: Job, mask_generator, seed: int = 0, max_pixels: int | None = None
) -> tuple[Tensor, Tensor]:
    """Image ``[1,3,H,W]`` and mask ``[1,1,H,W]`` of ``job``, or a one-line InputError.

    Without a mask file, ``mask_generator(height, width, rng)`` draws one from ``seed``.
    Images (and masks) of more than ``max_pixels`` pixels are refused before decoding.
    """
    image = np.asarray(load_rgb(job.image, max_pixels=max_pixels))
    height, width = image.shape[:2]
    if job.mask is not None:
        mask = load_mask(job.mask, max_pixels=max_pixels)
        if mask.shape != (height, width):
            raise InputError(
                f"{job.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                f"{job.image.name} is {width}x{height}"
            )
    elif mask_generator is not None:
        mask = mask_generator(height, width, np.random.default_rng(seed))
    else:
        raise InputError(
            f"{job.image}: no mask file {job.image.stem}{MASK_SUFFIX}.png "
            "(give mask=center or another mask config to fill images without one)"
        )
    if not mask.any():
        raise InputError(f"{job.mask or job.image}: empty mask (no white pixel), nothing to fill")
    return array_to_batch(image), array_to_batch(mask.astype(np.float32))
