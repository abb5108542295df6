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
        from fdd.pipeline import run

        return run(cfg)
    except KeyboardInterrupt:
        print("fdd: interrupted; rerun the same command to resume from the last committed round",
              file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - one line for the user; FDD_DEBUG=1 shows the traceback
        if os.environ.get("FDD_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        known = type(e).__name__ == "UserError"
        print(f"fdd: error: {msg}" if known else f"fdd: error: {type(e).__name__}: {msg}", file=sys.stderr)
        sys.exit(2)


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
