"""A training order that resumes mid-epoch: the sampler and loader behind exact resume.

The order of an epoch depends only on ``(seed, epoch)`` and, under DDP, on the rank: the
same permutation on every rank (seeded as the single-process order always was), each rank
taking every ``world_size``-th index of it. Samples themselves (crops, flips, masks) are a
pure function of ``(seed, epoch, index)`` (:class:`~inpaintgan.data.datasets.InpaintingDataset`):
the mask generators hold no random state, so there is none to save for them.

What a checkpoint needs is therefore the epoch and how many batches of it were trained.
:class:`ResumableLoader` keeps that in Lightning's ``state_dict`` / ``load_state_dict``
protocol (Lightning stores the state of such "stateful" loaders in the checkpoint, under
``loops.fit_loop.state_dict.combined_loader``, and hands it back before the first batch
of a resumed run); :class:`ResumableSampler` then skips the batches already trained.
:class:`inpaintgan.callbacks.TrainingPosition` writes the position it counted itself
(a prefetching loader is one batch ahead of training) into that entry before Lightning
reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, DistributedSampler

from inpaintgan.data.loaders import ReportingDataLoader


def epoch_permutation(size: int, seed: int, epoch: int) -> list[int]:
    """The shuffled order of ``range(size)`` for one epoch (the single-process order)."""
    generator = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
    return torch.randperm(size, generator=generator).tolist()


def _world() -> tuple[int, int]:
    """(world size, rank) of the running process group, (1, 0) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class ResumableSampler(DistributedSampler):
    """This rank's share of the ``(seed, epoch)`` permutation, optionally starting late.

    A ``DistributedSampler`` so that Lightning keeps it under DDP (it replaces other
    samplers by its own); ``num_replicas`` / ``rank`` default to the running process group.
    The tail of the permutation that does not divide by the number of ranks is dropped,
    so every rank has the same number of samples. :meth:`skip` makes the next pass over
    the current epoch start that many samples in (once; a pass over another epoch, or the
    pass after it, is whole).
    """

    def __init__(
        self,
        dataset: Dataset,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        world, me = _world()
        num_replicas = world if num_replicas is None else int(num_replicas)
        rank = me if rank is None else int(rank)
        super().__init__(
            dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=int(seed)
        )
        self.num_samples = len(dataset) // num_replicas  # type: ignore[arg-type]
        self.total_size = self.num_samples * num_replicas
        self._skip = 0
        self._skip_epoch: int | None = None

    def skip(self, samples: int) -> None:
        """Start the next pass over this epoch ``samples`` indices in (the batches already
        trained). A resume that first finishes the epoch's end never iterates it again:
        the skip is then dropped at the next epoch's pass."""
        self._skip = max(0, int(samples))
        self._skip_epoch = int(self.epoch)

    def _pending_skip(self) -> int:
        return self._skip if self._skip_epoch == self.epoch else 0

    def indices(self) -> list[int]:
        """The whole of this rank's order for the current epoch."""
        order = epoch_permutation(len(self.dataset), self.seed, self.epoch)  # type: ignore[arg-type]
        return order[: self.total_size][self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        start = self._pending_skip()
        self._skip, self._skip_epoch = 0, None
        yield from self.indices()[start:]

    def __len__(self) -> int:
        return self.num_samples


class ResumableLoader(ReportingDataLoader):
    """The training loader: a :class:`ReportingDataLoader` over a :class:`ResumableSampler`
    whose position (epoch, batches handed out in this pass) is Lightning-stateful."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches = 0  # batches of the current pass handed out (skipped ones included)

    def _sampler(self) -> ResumableSampler | None:
        sampler = self.sampler
        if not isinstance(sampler, ResumableSampler) and self.batch_sampler is not None:
            sampler = getattr(self.batch_sampler, "sampler", None)
        return sampler if isinstance(sampler, ResumableSampler) else None

    def __iter__(self) -> Iterator[dict]:
        sampler = self._sampler()
        skipped = sampler._pending_skip() if sampler else 0
        self.batches = skipped // self.batch_size if self.batch_size else 0
        for batch in super().__iter__():
            self.batches += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """Where this loader is: the sampler's epoch and the batches handed out of it."""
        sampler = self._sampler()
        return {"epoch": int(sampler.epoch) if sampler else 0, "batches": int(self.batches)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue at batch ``state["batches"]`` of epoch ``state["epoch"]``."""
        sampler = self._sampler()
        if sampler is None:
            return
        sampler.set_epoch(int(state.get("epoch", 0)))
        sampler.skip(int(state.get("batches", 0)) * int(self.batch_size or 1))
