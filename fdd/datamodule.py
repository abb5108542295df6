"""The growing distillation set, served to Lightning.

The RoundRunner replaces the problem list at a round boundary; `train_dataloader` is called again
at the next epoch (reload_dataloaders_every_n_epochs=1), and a test checks that training sees it.
Shuffling is seeded by (seed, epoch), so a resumed run sees batches in the same order.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from fdd.problems import Problem


class DistillData(pl.LightningDataModule):
    def __init__(self, render: Callable[[Problem], str], collate: Callable, batch_size: int = 32,
                 seed: int = 0, num_workers: int = 0):
        super().__init__()
        self.render, self.collate = render, collate
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.problems: list[Problem] = []

    def set_problems(self, problems: list[Problem]) -> None:
        self.problems = list(problems)

    def train_dataloader(self) -> DataLoader:
        items = [{"id": p.id, "question": p.question, "target": self.render(p)} for p in self.problems]
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return DataLoader(items, batch_size=self.batch_size, shuffle=True, generator=gen,
                          collate_fn=self.collate, num_workers=self.num_workers)
