"""The growing distillation set, served to Lightning.

The RoundRunner replaces the problem list at a round boundary; `train_dataloader` is called again
at the next epoch (reload_dataloaders_every_n_epochs=1), and a test checks that training sees it.
Batches come from `RoundBatches`, seeded by (seed, epoch), so a resumed run sees batches in the same
order. It optionally groups problems of similar length (less padding, see `bucket`) and, under DDP,
gives each rank its share of the batches itself (the trainer runs with use_distributed_sampler=false).
With `steps_per_round` it draws exactly that many batches per round (one epoch), whatever the set's
size, so arms whose sets grow differently train at equal compute.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Sampler

from fdd.problems import Problem


class RoundBatches(Sampler[list[int]]):
    """One epoch's batches of indices.

    Shuffle the items (torch.randperm with `generator`); without bucketing, cut the order into
    batches. With `bucket`, sort each window of `window` batches' worth of items by `lengths`, cut
    it into batches and shuffle the batch order: batches hold similar lengths, yet every epoch
    differs. With `world` > 1, rank `rank` takes every world-th batch; the list is first padded by
    repeating its first batches so all ranks run the same number of steps (DDP needs that), hence
    the union over ranks is exactly the set.

    With `steps`, each rank gets exactly `steps` batches: passes over the set, each a fresh
    permutation, follow each other until steps × world batches are drawn. Without bucketing the
    passes form one stream of items cut into full batches (a pass's tail joins the next pass's
    head), so every step sees `batch_size` items (fewer only if the set is smaller than a batch);
    with bucketing whole passes' batch lists are chained.

    The order depends on `seed` alone, however often the sampler is iterated: Lightning iterates a
    loader once more when it resumes from a checkpoint, and a resumed run must train on the same
    batches as an uninterrupted one.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, bucket: bool = False,
                 window: int = 100, rank: int = 0, world: int = 1, steps: int | None = None):
        self.lengths, self.batch_size, self.seed = list(lengths), max(1, batch_size), seed
        self.bucket, self.window, self.rank, self.world = bucket, max(1, window), rank, max(1, world)
        self.steps = steps

    def _chunks(self) -> list[int]:
        n, span = len(self.lengths), self.batch_size * self.window
        return [min(span, n - s) for s in range(0, n, span)] if self.bucket else ([n] if n else [])

    def __len__(self) -> int:
        if self.steps is not None:
            return self.steps if self.lengths else 0
        total = sum(math.ceil(c / self.batch_size) for c in self._chunks())
        return math.ceil(total / self.world)

    def batches(self) -> list[list[int]]:
        """This rank's batches for the epoch."""
        gen = torch.Generator().manual_seed(self.seed)
        if self.steps is not None:
            return self._fixed_steps(gen)
        out = self._one_pass(gen)
        if self.world > 1 and out:
            out += [out[i % len(out)] for i in range((-len(out)) % self.world)]
            out = out[self.rank::self.world]
        return out

    def _fixed_steps(self, gen: torch.Generator) -> list[list[int]]:
        n, want = len(self.lengths), self.steps * self.world
        if not n:
            return []
        bs = min(self.batch_size, n)
        if self.bucket:
            out: list[list[int]] = []
            while len(out) < want:
                out += self._one_pass(gen)
        else:
            stream: list[int] = []
            while len(stream) < want * bs:
                stream += torch.randperm(n, generator=gen).tolist()
            out = [stream[i:i + bs] for i in range(0, want * bs, bs)]
        return out[:want][self.rank::self.world]

    def _one_pass(self, gen: torch.Generator) -> list[list[int]]:
        """One shuffled pass over the set, cut into batches (bucketed if asked)."""
        order = torch.randperm(len(self.lengths), generator=gen).tolist()
        bs = self.batch_size
        if self.bucket:
            out, start = [], 0
            for size in self._chunks():
                part = sorted(order[start:start + size], key=self.lengths.__getitem__)
                out += [part[i:i + bs] for i in range(0, size, bs)]
                start += size
            out = [out[i] for i in torch.randperm(len(out), generator=gen).tolist()]
        else:
            out = [order[i:i + bs] for i in range(0, len(order), bs)]
        return out

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()


class DistillData(pl.LightningDataModule):
    """Serves the current round's problems as (question, rendered rationale) items.

    `bucket` (student.bucket_by_length) groups similar lengths (characters of question + target, a
    cheap stand-in for tokens) within windows of `bucket_window` batches; the padding it saves is
    reported per round by the Student (`train/padding_fraction`). `steps_per_round` (top-level
    config key) fixes the optimizer steps per round: the sampler draws that many batches times the
    trainer's accumulate_grad_batches.
    """

    def __init__(self, render: Callable[[Problem], str], collate: Callable, batch_size: int = 32,
                 seed: int = 0, num_workers: int = 0, bucket: bool = False, bucket_window: int = 100,
                 steps_per_round: int | None = None):
        super().__init__()
        self.steps_per_round = steps_per_round
        self.render, self.collate = render, collate
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.bucket, self.bucket_window = bucket, bucket_window
        self.problems: list[Problem] = []

    def set_problems(self, problems: list[Problem]) -> None:
        self.problems = list(problems)

    def items(self) -> list[dict]:
        return [{"id": p.id, "question": p.question, "target": self.render(p)} for p in self.problems]

    def train_dataloader(self) -> DataLoader:
        items = self.items()
        trainer = self.trainer
        epoch = trainer.current_epoch if trainer is not None else 0
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        seed = self.seed * 100_003 + epoch
        steps = None
        if self.steps_per_round:
            steps = self.steps_per_round * (trainer.accumulate_grad_batches if trainer is not None else 1)
        sampler = RoundBatches([len(it["question"]) + len(it["target"]) for it in items], self.batch_size, seed,
                               bucket=self.bucket, window=self.bucket_window, rank=rank, world=world, steps=steps)
        # its own generator: worker seeds come from it, and the global RNG is left alone
        return DataLoader(items, batch_sampler=sampler, generator=torch.Generator().manual_seed(seed),
                          collate_fn=self.collate, num_workers=self.num_workers)
