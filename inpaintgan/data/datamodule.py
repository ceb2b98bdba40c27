"""LightningDataModule serving ``{"image", "mask", "name"}`` batches from a source.

Batches travel compact: ``image`` uint8, ``mask`` bool (a quarter of float32's bytes through
worker queues, pinned memory and the host-device copy). :func:`to_float_batch` makes them
float ``[0, 1]`` / ``{0, 1}``; the data module runs it on the device after each transfer
(``on_after_batch_transfer``), and code that iterates a loader itself calls it.

Skipped files are reported from the main process, whatever the number of workers: each
sample carries the reasons its worker skipped files, :func:`collate` gathers them under
``REPORT_KEY``, and :class:`~inpaintgan.data.loaders.ReportingDataLoader` pops them off every
batch (the model never sees them), logs one warning per broken file, and a count when a pass
over the data ends.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import RandomSampler, default_collate, get_worker_info

from inpaintgan.data.datasets import ImageSource, InpaintingDataset, MaskGenerator
from inpaintgan.data.loaders import REPORT_KEY, ReportingDataLoader, evenly_spread
from inpaintgan.errors import DataError

_INV_255 = 1 / 255  # the float32 multiply the datasets used to do: results are bit-identical


def image_to_float(image: torch.Tensor) -> torch.Tensor:
    """uint8 images (0-255) → float32 in [0, 1]; floating tensors are returned unchanged."""
    if image.is_floating_point():
        return image
    if image.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 or floating point, got {image.dtype}")
    return image.to(torch.float32).mul_(_INV_255)


def mask_to_float(mask: torch.Tensor) -> torch.Tensor:
    """bool (or 0/1 integer) masks → float32 {0, 1}; floating tensors are returned unchanged."""
    return mask if mask.is_floating_point() else mask.to(torch.float32)


def to_float_batch(batch: dict, device: torch.device | str | None = None) -> dict:
    """``batch`` with ``image`` as float [0, 1] and ``mask`` as float {0, 1}, on ``device``.

    Idempotent (float tensors pass through); other keys are left as they are. Moving first
    and converting on the device keeps the copy at a quarter of the float32 bytes.
    """
    out = dict(batch)
    for key, convert in (("image", image_to_float), ("mask", mask_to_float)):
        value = out.get(key)
        if isinstance(value, torch.Tensor):
            if device is not None:
                value = value.to(device, non_blocking=True)
            out[key] = convert(value)
    return out


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """In a worker, torch's own collate (it stacks straight into shared memory); in the main
    process a numpy stack, since torch.stack there starts intra-op threads that fight the
    model for cores."""
    if get_worker_info() is not None:
        return default_collate(tensors)
    return torch.from_numpy(np.stack([t.numpy() for t in tensors]))


def collate(samples: list[dict]) -> dict:
    """Stack images and masks, list names; side information goes under ``REPORT_KEY``.

    Samples of broken files (``"image": None``, evaluation) are left out of the batch and
    listed under ``REPORT_KEY["broken"]``; a batch of only broken files has no names and
    empty tensors.
    """
    kept = [s for s in samples if s["image"] is not None]
    empty_image = torch.empty(0, 3, 0, 0, dtype=torch.uint8)
    empty_mask = torch.empty(0, 1, 0, 0, dtype=torch.bool)
    return {
        "image": _stack([s["image"] for s in kept]) if kept else empty_image,
        "mask": _stack([s["mask"] for s in kept]) if kept else empty_mask,
        "name": [s["name"] for s in kept],
        REPORT_KEY: {
            "skipped": [reason for s in samples for reason in s.get("skipped", ())],
            "broken": [s["broken"] for s in samples if s.get("broken")],
            "upscaled": sum(bool(s.get("upscaled")) for s in samples),
        },
    }


class EpochRandomSampler(RandomSampler):
    """A shuffle that depends only on (seed, epoch), so a resumed run sees the same order.

    Lightning calls ``set_epoch`` at each epoch start; under DDP it replaces this
    RandomSampler with its DistributedSampler, which is seeded per epoch the same way.
    """

    def __init__(self, data_source: InpaintingDataset, seed: int) -> None:
        super().__init__(data_source)
        self.seed, self.epoch = int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()


class InpaintingDataModule(pl.LightningDataModule):
    """Train/val/test loaders of ``(image, mask)`` pairs at ``size``² from ``source``.

    ``mask`` draws training holes; ``eval_mask`` (default: ``mask``) draws the fixed
    validation/test holes. No sampler is passed, so Lightning shards every split across DDP
    ranks with its DistributedSampler; samples depend on (seed, index, epoch) only.
    ``val_subset`` validates on that many images of the val split, evenly spread over its
    list (every ``n / val_subset``-th), each with the mask it has in the whole split; the
    test split stays whole. ``train_subset`` trains on that many images of the train split,
    evenly spread over its (sorted) list: the data axis of a pilot ("half the photos")
    without a second folder. Batches are uint8/bool until :meth:`on_after_batch_transfer`
    turns them into floats on the device. ``pin_memory`` applies only when CUDA is there.
    ``root``, ``variant`` and ``resolution`` are the configs' user-facing keys, already
    handed on to the source; they are kept for the record. ``format="litdata"`` streams the
    chunks ``python -m inpaintgan.prepare`` wrote under ``root`` (a folder or an object-store
    URL) instead of listing files (:mod:`inpaintgan.data.streaming`, imported only then).
    """

    def __init__(
        self,
        source: ImageSource,
        mask: MaskGenerator,
        size: int = 256,
        batch_size: int = 8,
        num_workers: int = 2,
        seed: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        eval_mask: MaskGenerator | None = None,
        load_size: int | None = None,
        eval_batch_size: int | None = None,
        drop_last: bool = True,
        root: str | None = None,
        val_subset: int | None = None,
        train_subset: int | None = None,
        variant: str | None = None,
        resolution: str | None = None,
        format: str = "files",
    ) -> None:
        super().__init__()
        if format not in ("files", "litdata"):
            raise DataError(f"data.format must be files or litdata, got {format!r}")
        self.format = format
        self.root = root  # the configs' user-facing `data.root`, already passed to the source
        self.variant, self.resolution = variant, resolution  # idem (Places365)
        if val_subset is not None and int(val_subset) < 1:
            raise DataError(f"data.val_subset must be a positive count or null, got {val_subset}")
        self.val_subset = None if val_subset is None else int(val_subset)
        if train_subset is not None and int(train_subset) < 1:
            raise DataError(
                f"data.train_subset must be a positive count or null, got {train_subset}"
            )
        if train_subset is not None and format == "litdata":
            raise DataError("data.train_subset works with data.format=files only (not litdata)")
        self.train_subset = None if train_subset is None else int(train_subset)
        self.source, self.mask, self.eval_mask = source, mask, eval_mask or mask
        self.size, self.load_size, self.seed = int(size), load_size, int(seed)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers, self.pin_memory = int(num_workers), bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.drop_last = bool(drop_last)
        self.datasets: dict[str, InpaintingDataset] = {}

    def dataset(self, split: str) -> InpaintingDataset:
        """The dataset of one split (``train`` draws random crops and masks), built once."""
        if split not in self.datasets and self.format == "litdata":
            from inpaintgan.data.streaming import streaming_dataset

            self.datasets[split] = streaming_dataset(
                self.root, split, self.size, self.mask if split == "train" else self.eval_mask,
                self.seed, self.load_size, self.val_subset,
            )  # fmt: skip
        if split not in self.datasets:
            train = split == "train"
            paths = self.source.paths(split)
            if not paths:
                raise DataError(f"the {split} split of {self.source!r} has no images")
            subset = None
            if split == "val" and self.val_subset is not None:
                subset = evenly_spread(len(paths), self.val_subset)
            if train and self.train_subset is not None:
                if self.train_subset > len(paths):
                    raise DataError(
                        f"data.train_subset={self.train_subset} but the train split of "
                        f"{self.source!r} has only {len(paths)} images"
                    )
                chosen = evenly_spread(len(paths), self.train_subset)
                if chosen is not None:
                    paths = [paths[i] for i in chosen]
            self.datasets[split] = InpaintingDataset(
                paths,
                self.size,
                self.mask if train else self.eval_mask,
                train=train,
                seed=self.seed,
                load_size=self.load_size,
                subset=subset,
            )
        return self.datasets[split]

    def setup(self, stage: str | None = None) -> None:
        """Lists the files of the splits ``stage`` needs (raises DataError on a bad layout)."""
        splits = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}
        for split in splits.get(stage or "fit", ("train", "val", "test")):
            self.dataset(split)

    def _trainer_epoch(self) -> int | None:
        trainer = getattr(self, "trainer", None)
        return None if trainer is None else int(trainer.current_epoch)

    def loader(self, split: str) -> ReportingDataLoader:
        """A loader over ``split`` (train/val/test/all); only ``train`` shuffles and augments."""
        dataset, train = self.dataset(split), split == "train"
        batch_size = self.batch_size if train else self.eval_batch_size
        if train and self.format == "litdata":  # LitData's loader: its state is checkpointed
            from inpaintgan.data.streaming import streaming_train_loader

            pin = self.pin_memory and torch.cuda.is_available()
            return streaming_train_loader(
                dataset, batch_size, self.num_workers, pin, self.persistent_workers, collate,
                self._trainer_epoch, self.drop_last,
            )  # fmt: skip
        # Training: the (seed, epoch) order, resumable mid-epoch (inpaintgan/data/sampling.py).
        from inpaintgan.data.sampling import ResumableLoader, ResumableSampler

        sampler = ResumableSampler(dataset, self.seed) if train else None
        if sampler is not None:
            sampler.set_epoch(self._trainer_epoch() or 0)
        return (ResumableLoader if train else ReportingDataLoader)(
            dataset,
            label=split,
            epoch_fn=self._trainer_epoch if train else None,
            batch_size=batch_size,
            sampler=sampler,
            # Without drop_last a last batch of one breaks BatchNorm; keep a tiny set usable.
            drop_last=train and self.drop_last and len(dataset) > batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
            persistent_workers=self.persistent_workers,
            collate_fn=collate,
        )

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Lightning's hook, on the device: uint8/bool batch → float (:func:`to_float_batch`)."""
        return to_float_batch(batch)

    def train_dataloader(self) -> ReportingDataLoader:
        return self.loader("train")

    def val_dataloader(self) -> ReportingDataLoader:
        return self.loader("val")

    def test_dataloader(self) -> ReportingDataLoader:
        return self.loader("test")
