"""``data.format=litdata``: samples streamed from the chunks ``inpaintgan.prepare`` wrote.

``data.root`` is the folder (or object-store URL: ``s3://``, ``gs://``, ``local:/path``)
holding ``train/`` and ``val/`` (``test/`` when written, else test = val). Each record is
an image file's bytes as it was on disk (:mod:`inpaintgan.data.shards`); the crop, scale
jitter, flip and mask of a sample are made by the file dataset's own code
(:class:`~inpaintgan.data.datasets.InpaintingDataset`) from
``np.random.default_rng([seed, train, epoch, index])``, ``index`` being the file's position
in its split list, so a streamed sample is the very sample the file loader gives.

- **train**: :class:`StreamingInpaintingDataset`, a LitData ``StreamingDataset``: shuffled
  (by chunks, then within them, seeded by ``seed`` and the epoch), each DDP rank and loader
  worker reading its own part, behind :class:`StreamingReportingLoader` (a LitData
  ``StreamingDataLoader``), whose ``state_dict`` Lightning stores in the checkpoint, so a
  mid-epoch resume continues with the very next batch.
- **val / test**: :class:`StreamingEvalDataset`, map-style (random access into the chunks),
  so the evenly spread ``val_subset`` and the frozen masks are those of the file loader and
  Lightning's DistributedSampler shards it as it does the files.
- A record that does not decode is skipped (its batch is one sample short) and named by its
  path in the source, like a broken file; 16 in a row stop with a DataError.

Importing this module imports litdata (the data module does it only for ``format=litdata``).
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from inpaintgan.data.datasets import InpaintingDataset, MaskGenerator, mask_failure_message
from inpaintgan.data.loaders import ReportingDataLoader, evenly_spread
from inpaintgan.data.shards import MARKER, import_litdata
from inpaintgan.errors import DataError, ImageLoadError

import_litdata()  # sets LITDATA_DISABLE_VERSION_CHECK before litdata is first imported

from litdata import StreamingDataLoader, StreamingDataset  # noqa: E402

log = logging.getLogger(__name__)

OBJECT_STORES = ("s3://", "gs://", "r2://", "azure://", "hf://", "local:")
FORMATS = ("files", "litdata")


def is_url(root: str) -> bool:
    """Whether ``root`` names an object store (``s3://...``, ``local:/path``...)."""
    return str(root).startswith(OBJECT_STORES)


def split_location(root: str | os.PathLike | None, split: str) -> str:
    """Where ``split``'s chunks are under ``root`` (a folder or a URL); test falls back to
    val when no ``test/`` was written. Raises one-line DataErrors for what can be checked
    before streaming: an unset root, a missing or partial chunk folder, an unreachable URL."""
    if root is None or str(root) in ("", "???"):
        raise DataError(
            "data.root is not set (data.format=litdata expects the folder or URL "
            "python -m inpaintgan.prepare wrote)"
        )
    root = str(root)
    if root.startswith("local:") or not is_url(root):
        base = Path(root.removeprefix("local:")).expanduser()
        if not base.is_dir():
            raise DataError(
                f"data.root {root} does not exist or is not a folder (data.format=litdata "
                "expects the out folder of python -m inpaintgan.prepare)"
            )
        if split == "test" and not (base / "test").is_dir():
            split = "val"
        check_chunks(base / split, root)
        prefix = "local:" if root.startswith("local:") else ""
        return f"{prefix}{base / split}"
    if split == "test":
        split = "val"  # only train/ and val/ are written by default; test = val
    return root.rstrip("/") + "/" + split


def check_chunks(folder: Path, root: str) -> None:
    """One DataError line when ``folder`` has no ``index.json`` or a chunk it lists is
    missing or shorter than listed (an interrupted copy or prepare)."""
    index_file = folder / "index.json"
    if not index_file.is_file():
        hint = (
            "a prepare that has not finished: run it again to resume"
            if (Path(folder).parent / MARKER).is_file()
            else "run python -m inpaintgan.prepare ... out=" + str(Path(folder).parent)
        )
        raise DataError(f"no LitData chunks at {folder} (index.json not found; {hint})")
    try:
        index = json.loads(index_file.read_text())
        chunks, compression = index["chunks"], index["config"].get("compression")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f"{index_file} is not a LitData index ({err})") from None
    for chunk in chunks:
        path = folder / chunk["filename"]
        if not path.is_file():
            raise DataError(
                f"{path} (listed in {index_file}) is missing: an incomplete copy of the "
                f"chunks of {root}"
            )
        size, listed = path.stat().st_size, int(chunk.get("chunk_bytes") or 0)
        if not compression and listed and size < listed:
            raise DataError(
                f"{path} is partial ({size} of {listed} bytes): an incomplete copy of the "
                f"chunks of {root}"
            )


@contextmanager
def index_errors(location: str) -> Iterator[None]:
    """Turn whatever opening a LitData index raises (boto, obstore and LitData raise many
    kinds) into one DataError line naming ``location``; DataErrors pass unchanged."""
    try:
        yield
    except DataError:
        raise
    except Exception as err:  # noqa: BLE001 - see the docstring
        reason = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"cannot read the LitData index at {location}: {reason[:300]}") from None


def open_stream(location: str, **kwargs: Any) -> StreamingDataset:
    """``StreamingDataset(location)``; a URL that cannot be read is one DataError line."""
    with index_errors(location):
        return StreamingDataset(location, **kwargs)


def stream_length(stream: StreamingDataset) -> int:
    """The number of records of the whole split (``len`` of a StreamingDataset is the part of
    this rank)."""
    folder = stream.input_dir.path
    if folder and (Path(folder) / "index.json").is_file():
        index = json.loads((Path(folder) / "index.json").read_text())
        return sum(int(chunk["chunk_size"]) for chunk in index["chunks"])
    stream[0]  # noqa: B018 - fetches the index into the cache
    return len(stream.cache)


class RecordBytes(io.BytesIO):
    """A record's encoded image, named by its path in the source: ``load_rgb`` reads it as
    it reads a file, and its one-line errors name the source file."""

    def __init__(self, data: bytes | memoryview, name: str) -> None:
        super().__init__(bytes(data))
        self.source_name = name

    def __str__(self) -> str:
        return self.source_name


class RecordSampler(InpaintingDataset):
    """The file dataset's crop / jitter / flip / mask code, applied to records.

    Built as an :class:`InpaintingDataset` over one placeholder path (never opened), so the
    code that makes a sample from an image is shared, not copied.
    """

    def __init__(
        self,
        size: int,
        mask: MaskGenerator,
        train: bool,
        seed: int = 0,
        load_size: int | None = None,
    ) -> None:
        super().__init__([Path("record")], size, mask, train=train, seed=seed, load_size=load_size)

    def record_rng(self, index: int, epoch: int) -> np.random.Generator:
        """As :meth:`InpaintingDataset.rng`: (seed, train, epoch, position in the split list)."""
        epoch = int(epoch) if self.train else 0
        return np.random.default_rng([self.seed, int(self.train), epoch, int(index)])

    def sample(self, record: dict, epoch: int) -> dict:
        """The ``{"image", "mask", "name", ...}`` sample of one record (``image`` None and the
        reason under ``skipped`` when it does not decode)."""
        index, name = int(record["index"]), str(record["name"])
        where = str(record.get("source") or name)
        rng = self.record_rng(index, epoch)
        try:
            image, upscaled = self._image(RecordBytes(record["image"], where), rng)
        except ImageLoadError as err:
            reason = str(err) if len(record["image"]) else f"{where}: empty record (unreadable)"
            return {
                "image": None,
                "mask": None,
                "name": name,
                "broken": where,
                "skipped": [reason],
                "upscaled": False,
            }
        skipped: list[str] = []
        for _ in range(self.MAX_TRIES):
            try:
                mask = self.mask(self.size, self.size, rng)
            except ImageLoadError as err:  # a broken mask file: draw another one
                skipped.append(str(err))
                continue
            return {
                "image": image,
                "mask": torch.from_numpy(np.ascontiguousarray(mask > 0.5))[None],
                "name": name,
                "skipped": skipped,
                "upscaled": upscaled,
            }
        raise DataError(mask_failure_message(skipped, self.MAX_TRIES, self.mask))


class StreamingInpaintingDataset(StreamingDataset):
    """Training samples streamed from LitData chunks (shuffled; each rank/worker its part).

    The sample of record ``index`` in epoch ``e`` (the loader's pass, 0 first) is the file
    dataset's sample of that file in epoch ``e``. ``drop_last`` (None: LitData's default,
    True under DDP) evens the ranks' counts.
    """

    def __init__(
        self,
        location: str,
        size: int,
        mask: MaskGenerator,
        seed: int = 0,
        load_size: int | None = None,
        shuffle: bool = True,
        drop_last: bool | None = None,
        cache_dir: str | None = None,
    ) -> None:
        with index_errors(location):
            super().__init__(
                location, cache_dir=cache_dir, shuffle=shuffle, drop_last=drop_last, seed=seed
            )
        self.sampler = RecordSampler(size, mask, train=True, seed=seed, load_size=load_size)
        self.size = int(size)
        self.location = location
        self.total = None
        self._broken_in_a_row = 0

    def follow_distributed_env(self) -> None:
        """Take the DDP world as it is now (in the main process: loader workers do not see
        it). The data module builds this dataset in ``setup``, which ``train`` runs before
        the process group exists; LitData reads the world once, when it is built. Under DDP
        ``drop_last`` becomes True (equal counts per rank), as LitData does by default."""
        from litdata.utilities.env import _DistributedEnv

        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        env = _DistributedEnv.detect()
        if env != self.distributed_env:
            self.distributed_env = env
            self.shuffler = None  # rebuilt for this world
            if env.world_size > 1:
                self.set_drop_last(True)

    def epoch(self) -> int:
        """The 0-based epoch of the samples (LitData counts its loader's passes from 1)."""
        return max(int(self.current_epoch) - 1, 0)

    def __getitem__(self, index: Any) -> Any:
        record = super().__getitem__(index)
        if not isinstance(record, dict):
            return record
        sample = self.sampler.sample(record, self.epoch())
        if sample["image"] is None:
            self._broken_in_a_row += 1
            if self._broken_in_a_row >= self.sampler.MAX_TRIES:
                raise DataError(
                    f"{self._broken_in_a_row} unreadable records in a row in {self.location} "
                    f"(last: {sample['skipped'][-1]}); check data.root"
                )
        else:
            self._broken_in_a_row = 0
        return sample


class StreamingEvalDataset(Dataset):
    """Validation / test samples by random access into the chunks: the file loader's fixed
    crops and masks, and its evenly spread ``subset`` (positions in the split list)."""

    def __init__(
        self,
        location: str,
        size: int,
        mask: MaskGenerator,
        seed: int = 0,
        subset_size: int | None = None,
        cache_dir: str | None = None,
    ) -> None:
        self.stream = open_stream(location, cache_dir=cache_dir)
        self.location = location
        self.total = stream_length(self.stream)
        if self.total == 0:
            raise DataError(f"{location} holds no records")
        ids = None if subset_size is None else evenly_spread(self.total, int(subset_size))
        self._ids = np.arange(self.total) if ids is None else np.asarray(ids, dtype=np.int64)
        self.sampler = RecordSampler(size, mask, train=False, seed=seed)
        self.size = int(size)

    def __len__(self) -> int:
        return len(self._ids)

    def set_epoch(self, epoch: int) -> None:
        """Validation samples never change (as the file loader's)."""

    def __getitem__(self, index: int) -> dict:
        return self.sampler.sample(self.stream[int(self._ids[index])], 0)


class StreamingReportingLoader(ReportingDataLoader, StreamingDataLoader):
    """A LitData ``StreamingDataLoader`` (``state_dict`` / ``load_state_dict``: Lightning
    keeps them in the checkpoint) that reports skipped records as :class:`ReportingDataLoader`
    does. Batches of fewer than ``min_batch`` samples are dropped (``drop_last``; a batch of
    one breaks BatchNorm)."""

    PASS_DONE = "inpaintgan_pass_done"

    def __init__(self, dataset: StreamingInpaintingDataset, *args, min_batch: int = 1, **kwargs):
        super().__init__(dataset, *args, **kwargs)
        self.min_batch = int(min_batch)
        self.pass_done = False

    def __len__(self) -> int:
        self.dataset.follow_distributed_env()
        return super().__len__()

    def __iter__(self):
        self.dataset.follow_distributed_env()
        self.pass_done = False
        epoch = self.epoch_fn() if self.epoch_fn is not None else None
        if epoch is not None and not self.restore:
            self.current_epoch = epoch  # a fresh pass of the trainer's epoch (LitData adds 1)
        for batch in super().__iter__():
            if isinstance(batch, dict) and len(batch.get("name", ())) < self.min_batch:
                continue
            yield batch
        self.pass_done = True

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), self.PASS_DONE: self.pass_done}

    def load_state_dict(self, obj: dict[str, Any]) -> None:
        """Resume inside the pass the state was saved in; a state saved after its pass ended
        (an end-of-epoch checkpoint, or an epoch cut by ``limit_train_batches``: the trainer
        is past that pass) starts the next pass afresh, as an uninterrupted run does."""
        self.dataset.follow_distributed_env()
        saved = int(obj["current_epoch"])  # LitData counts passes from 1
        trainer_epoch = self.epoch_fn() if self.epoch_fn is not None else None
        if obj.get(self.PASS_DONE) or (trainer_epoch is not None and trainer_epoch >= saved):
            self.current_epoch = max(saved, trainer_epoch or 0)
            self.restore = False
            self.dataset.reset_state_dict()
            return
        super().load_state_dict(obj)


def streaming_dataset(
    root: str | None,
    split: str,
    size: int,
    mask: MaskGenerator,
    seed: int,
    load_size: int | None = None,
    val_subset: int | None = None,
) -> Dataset:
    """The dataset of ``split`` (train streams; val/test random access); see the module doc."""
    location = split_location(root, split)
    if split == "train":
        return StreamingInpaintingDataset(location, size, mask, seed=seed, load_size=load_size)
    if split not in ("val", "test"):
        raise DataError(f"data.format=litdata serves train, val and test, not {split!r}")
    subset = val_subset if split == "val" else None
    return StreamingEvalDataset(location, size, mask, seed=seed, subset_size=subset)


def streaming_train_loader(
    dataset: StreamingInpaintingDataset,
    batch_size: int,
    num_workers: int,
    pin_memory: bool,
    persistent_workers: bool,
    collate_fn,
    epoch_fn=None,
    drop_last: bool = True,
) -> StreamingReportingLoader:
    """The training loader over a :class:`StreamingInpaintingDataset`. ``drop_last`` drops
    the batches a pass leaves short (the file loader's ``drop_last``; also a batch short of
    a skipped record); else only a batch of one (BatchNorm) is dropped."""
    full = drop_last and stream_length(dataset) > batch_size
    return StreamingReportingLoader(
        dataset,
        label="train",
        epoch_fn=epoch_fn,
        min_batch=batch_size if full else min(2, batch_size),
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers,
        collate_fn=collate_fn,
    )
