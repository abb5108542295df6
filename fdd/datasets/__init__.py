"""Problem sets selected by name: `fdd.datasets.load("gsm8k", split="test", ...)`.

Each loader module registers itself with `@register(NAME)`; a loader returns `Loaded` with the
parsed problems and every record it could not parse (id + reason), never dropping one silently.
Modules are imported lazily so a run pays only for the sets it uses.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from fdd.problems import Problem

MODULES = {
    "synthetic": "fdd.datasets.synthetic",
    "gsm8k": "fdd.datasets.gsm8k",
    "svamp": "fdd.datasets.svamp",
    "asdiv": "fdd.datasets.asdiv",
    "multiarith": "fdd.datasets.multiarith",
    "addsub": "fdd.datasets.multiarith",
    "singleeq": "fdd.datasets.multiarith",
    "jsonl": "fdd.datasets.jsonl",
}

REGISTRY: dict[str, Callable[..., Loaded]] = {}


@dataclass
class Loaded:
    name: str
    problems: list[Problem]
    failed: list[dict] = field(default_factory=list)  # {"id": ..., "reason": ...}


def register(name: str) -> Callable:
    def deco(fn: Callable[..., Loaded]) -> Callable[..., Loaded]:
        REGISTRY[name] = fn
        return fn

    return deco


def names() -> list[str]:
    return sorted(MODULES)


def load(name: str, *, limit: int | None = None, seed: int = 0, **options) -> Loaded:
    """Load a registered set; `limit` keeps a seeded sample of that many problems (order kept)."""
    if name not in MODULES:
        raise ValueError(f"unknown dataset {name!r} (known: {', '.join(names())})")
    importlib.import_module(MODULES[name])
    loaded = REGISTRY[name](**{k: v for k, v in options.items() if v is not None})
    if limit is not None and 0 <= limit < len(loaded.problems):
        keep = sorted(random.Random(seed).sample(range(len(loaded.problems)), limit))
        loaded.problems = [loaded.problems[i] for i in keep]
    return loaded
