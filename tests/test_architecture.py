"""The house rules of docs/DESIGN.md, checked on the import graph of fdd/.

Every module under fdd/ is parsed with `ast` (nothing is imported or run); every import statement
counts, at module level or inside a function (a lazy import is still a dependency); modules loaded
by name through importlib are checked where they are listed (fdd.datasets.MODULES). The rules:

* the sandbox (fdd.sandbox, fdd.execution) and answer checking (fdd.answers) know no model: they
  import no model code of fdd and no torch / transformers / lightning / tokenizers;
* the sandbox imports only the standard library, sympy and itself;
* datasets (fdd.datasets) do not import teachers (fdd.teachers) nor the student (fdd.student);
* the store (fdd.store) writes records and files, not models: no torch / transformers / lightning,
  no student or teacher code;
* the three parts a package docstring describes keep to what it says they may import:
  - verification (fdd.verify) imports the checking layer and itself, and no model library;
  - the student (fdd.student) imports the checking layer and itself: no teacher, round loop,
    pipeline or report; its `files` module no model library;
  - the round loop (fdd.rounds) imports the checking layer, the student, the teachers' protocol and
    helpers (base, agreement), verification (fdd.verify), the store, fdd.stages (where the run is) and
    itself: no pipeline, entry point or report;
    its `feedback` and `verdicts` modules no model library;
  - the report (fdd.report) imports only itself, and no model library.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT

ML_LIBRARIES = frozenset({"torch", "transformers", "lightning", "pytorch_lightning", "tokenizers", "accelerate",
                          "peft", "safetensors", "openai", "vllm"})
MODEL_CODE = ("fdd.student", "fdd.teachers", "fdd.rounds", "fdd.solve", "fdd.export", "fdd.pipeline", "fdd.run",
              "fdd.tracking")
SANDBOX = ("fdd.sandbox", "fdd.execution")
CHECKING = ("fdd.problems", "fdd.answers", "fdd.rationales", *SANDBOX)
# what each part may import of fdd (besides itself and the `fdd` package), and which of its modules load no model library
PARTS = {
    "fdd.student": (CHECKING, ("fdd.student.files",)),
    "fdd.rounds": ((*CHECKING, "fdd.student", "fdd.teachers.base", "fdd.teachers.agreement", "fdd.verify",
                    "fdd.store", "fdd.stages"), ("fdd.rounds.feedback", "fdd.rounds.verdicts")),
    "fdd.verify": (CHECKING, ("fdd.verify",)),
    "fdd.report": ((), ("fdd.report",)),
}
SANDBOX_THIRD_PARTY = frozenset({"sympy"})


@dataclass
class Imports:
    """What one module imports: fdd modules (dotted names) and third-party top-level packages."""

    internal: set[str] = field(default_factory=set)
    external: set[str] = field(default_factory=set)


def module_name(path: Path) -> str:
    """fdd/sandbox/pool.py -> fdd.sandbox.pool; fdd/sandbox/__init__.py -> fdd.sandbox."""
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def raw_imports(source: str, name: str, is_package: bool) -> set[str]:
    """Every dotted name an import statement of this module may load; relative imports resolved.

    `from a.b import c` yields a.b and a.b.c (c may be a module or a name: `build_graph` decides).
    """
    out: set[str] = set()
    here = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here[: len(here) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def build_graph(sources: dict[Path, str], package: str = "fdd") -> dict[str, Imports]:
    """Import graph of `package` from {relative path: source}: fdd targets resolved to known modules."""
    names = {module_name(path): path for path in sources}
    graph = {}
    for name, path in names.items():
        imp = Imports()
        for target in raw_imports(sources[path], name, path.name == "__init__.py"):
            top = target.split(".")[0]
            if top == package:
                while target not in names and "." in target:  # a name imported from a module
                    target = target.rsplit(".", 1)[0]
                imp.internal.add(target)
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                imp.external.add(top)
        imp.internal.discard(name)
        graph[name] = imp
    return graph


def import_graph(root: Path, package: str = "fdd") -> dict[str, Imports]:
    paths = sorted((root / package).rglob("*.py"))
    return build_graph({p.relative_to(root): p.read_text(encoding="utf-8") for p in paths}, package)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(graph: dict[str, Imports]) -> list[str]:
    """Every broken house rule, one line each ('' when the house is in order)."""
    bad = []
    for name, imp in sorted(graph.items()):
        if _under(name, SANDBOX) or name == "fdd.answers":
            for target in sorted(imp.internal):
                if _under(target, MODEL_CODE):
                    bad.append(f"{name} imports model code {target}")
            for lib in sorted(imp.external & ML_LIBRARIES):
                bad.append(f"{name} imports {lib}")
        if _under(name, SANDBOX):
            for target in sorted(imp.internal):
                if target != "fdd" and not _under(target, SANDBOX):
                    bad.append(f"{name} imports {target} (the sandbox imports only itself)")
            for lib in sorted(imp.external - SANDBOX_THIRD_PARTY):
                bad.append(f"{name} imports {lib} (the sandbox needs only the standard library and sympy)")
        if _under(name, ("fdd.datasets",)):
            for target in sorted(imp.internal):
                if _under(target, ("fdd.teachers", "fdd.student")):
                    bad.append(f"{name} imports {target} (datasets do not call teachers or students)")
        for part, (allowed, light) in PARTS.items():
            if not _under(name, (part,)):
                continue
            for target in sorted(imp.internal):
                if target != "fdd" and not _under(target, (part, *allowed)):
                    bad.append(f"{name} imports {target} (outside what {part} may import)")
            if _under(name, light):
                for lib in sorted(imp.external & ML_LIBRARIES):
                    bad.append(f"{name} imports {lib} (it must load without model libraries)")
        if name == "fdd.store":
            for target in sorted(imp.internal):
                if _under(target, MODEL_CODE):
                    bad.append(f"{name} imports {target} (the store writes records and files, not models)")
            for lib in sorted(imp.external & ML_LIBRARIES):
                bad.append(f"{name} imports {lib} (the store writes records and files, not models)")
    return bad


@pytest.fixture(scope="module")
def graph() -> dict[str, Imports]:
    return import_graph(ROOT)


def test_the_graph_covers_the_house(graph: dict[str, Imports]) -> None:
    """The checker sees the parts the rules are about, and their real imports (not an empty graph)."""
    for part in ("fdd.sandbox", "fdd.sandbox.pool", "fdd.answers", "fdd.store", "fdd.datasets.gsm8k_gold",
                 "fdd.teachers.gold", "fdd.student.training", "fdd.rounds.runner", "fdd.report.cli"):
        assert part in graph, part
    assert "fdd.datasets.gsm8k_gold" in graph["fdd.teachers.gold"].internal
    assert "fdd.sandbox" in graph["fdd.datasets.gsm8k_gold"].internal  # a lazy import inside convert()
    assert "torch" in graph["fdd.student.training"].external
    assert {"fdd.student.evaluate", "fdd.teachers.base"} <= graph["fdd.rounds.runner"].internal


def test_house_rules_hold(graph: dict[str, Imports]) -> None:
    assert violations(graph) == []


def test_lazily_loaded_dataset_modules_stay_in_datasets() -> None:
    """`fdd.datasets.load` imports loaders by name (importlib), which the graph cannot see."""
    from fdd import datasets

    assert all(_under(module, ("fdd.datasets",)) for module in datasets.MODULES.values()), datasets.MODULES


def test_checker_catches_each_broken_rule() -> None:
    """A synthetic house that breaks every rule once: each break is reported, nothing else is."""
    sources = {
        "fdd/__init__.py": "",
        "fdd/answers.py": "import math\nimport torch\n",
        "fdd/store.py": "import json\nfrom fdd import student\n",
        "fdd/student/__init__.py": "",
        "fdd/student/training.py": "import torch\nfrom fdd.rounds import runner\n",
        "fdd/student/files.py": "import transformers\n",
        "fdd/rounds/__init__.py": "",
        "fdd/rounds/runner.py": "from fdd.student import training\nfrom fdd.report import single\n",
        "fdd/report/__init__.py": "",
        "fdd/report/single.py": "import matplotlib\nimport torch\nfrom fdd.student import training\n",
        "fdd/datasets/__init__.py": "",
        "fdd/datasets/loader.py": "def convert():\n    from ..teachers.gold import GoldTeacher\n",
        "fdd/teachers/__init__.py": "",
        "fdd/teachers/gold.py": "from fdd.datasets import loader\n",
        "fdd/sandbox/__init__.py": "from .pool import Executor\n",
        "fdd/sandbox/pool.py": "import subprocess\nimport numpy\nfrom fdd.problems import Problem\n",
        "fdd/sandbox/worker.py": "import sympy\nfrom . import pool\n",
        "fdd/problems.py": "",
    }
    graph = build_graph({Path(rel): source for rel, source in sources.items()})
    assert graph["fdd.datasets.loader"].internal == {"fdd.teachers.gold"}  # relative, lazy, name resolved
    assert graph["fdd.sandbox"].internal == {"fdd.sandbox.pool"}
    assert graph["fdd.store"].internal == {"fdd", "fdd.student"}  # `from fdd import student`: a module
    found = violations(graph)
    assert found == [
        "fdd.answers imports torch",
        "fdd.datasets.loader imports fdd.teachers.gold (datasets do not call teachers or students)",
        "fdd.report.single imports fdd.student (outside what fdd.report may import)",  # the package's __init__ runs too
        "fdd.report.single imports fdd.student.training (outside what fdd.report may import)",
        "fdd.report.single imports torch (it must load without model libraries)",
        "fdd.rounds.runner imports fdd.report (outside what fdd.rounds may import)",
        "fdd.rounds.runner imports fdd.report.single (outside what fdd.rounds may import)",
        "fdd.sandbox.pool imports fdd.problems (the sandbox imports only itself)",
        "fdd.sandbox.pool imports numpy (the sandbox needs only the standard library and sympy)",
        "fdd.store imports fdd.student (the store writes records and files, not models)",
        "fdd.student.files imports transformers (it must load without model libraries)",
        "fdd.student.training imports fdd.rounds (outside what fdd.student may import)",
        "fdd.student.training imports fdd.rounds.runner (outside what fdd.student may import)",
    ], found
