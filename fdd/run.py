"""`python -m fdd.run [overrides]`: compose, instantiate, fit round by round, report.

Rerunning the same command on the same `hydra.run.dir` (or `resume=DIR`) continues from the last
committed round; a finished run reports that it is complete and exits 0.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

import hydra
from omegaconf import DictConfig

log = logging.getLogger("fdd")


CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    try:
        from fdd.validation import validate

        validate(cfg)  # bad input fails here, before Lightning and torch load (seconds)
        from fdd.pipeline import run

        return run(cfg)
    except KeyboardInterrupt as e:  # training's carries the run dir to resume
        print(f"fdd: interrupted; {e or 'rerun the same command to resume from the last committed round'}",
              file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - one line for the user; FDD_DEBUG=1 shows the traceback
        if os.environ.get("FDD_DEBUG"):
            raise
        print(f"fdd: error: {describe(e)}", file=sys.stderr)
        sys.exit(2)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0].strip() if str(e).strip() else ""


def describe(e: BaseException) -> str:
    """One line for an error: Hydra's InstantiationException ("Error in call to target '…':", the
    cause on the next line) is skipped for the error it wraps; if that one was itself caused by
    another, the root cause (the end of the __cause__/__context__ chain) is appended unless its text
    is already there."""
    from hydra.errors import InstantiationException

    chain, seen = [], set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    top = next((c for c in chain if not isinstance(c, InstantiationException)), chain[0])
    msg = _first_line(top) if type(top).__name__ == "UserError" else f"{type(top).__name__}: {_first_line(top)}"
    root = chain[-1]
    if root is not top and _first_line(root) not in msg:
        msg += f" (cause: {type(root).__name__}: {_first_line(root)})"
    return msg


def check_output_dir(argv: list[str]) -> None:
    """Hydra creates the run dir before our code runs and fails with a traceback; check first."""
    multirun = any(a in ("-m", "--multirun") for a in argv)
    key = "hydra.sweep.dir=" if multirun else "hydra.run.dir="
    target = next((a.split("=", 1)[1] for a in argv if a.startswith(key)), "multirun" if multirun else "outputs")
    try:  # Hydra would create it next anyway
        path = Path(target).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as e:
        print(f"fdd: error: output dir {target} is not writable ({e.strerror}); set hydra.run.dir=...",
              file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    check_output_dir(sys.argv[1:])
    main()
