"""`python -m fdd.run [overrides]`: compose, instantiate, fit round by round, report.

Rerunning the same command on the same `hydra.run.dir` (or `resume=DIR`) continues from the last
committed round; a finished run reports that it is complete and exits 0.

How a run ends, in one line on stderr: an unexpected error names the stage it happened in
(fdd/stages.py) and exits 2 (FDD_DEBUG=1 shows the traceback); bad input (UserError) and a teacher
that cannot go on keep their own wording. Ctrl-C and the `stop_signals` (SIGTERM by default) stop
the run wherever it is with the same resume line and exit 128 + the signal's number (130, 143).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
from pathlib import Path

import hydra
from omegaconf import DictConfig

log = logging.getLogger("fdd")


CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
RESUME_HINT = "rerun the same command to resume from the last committed round"
OWN_WORDING = ("UserError", "TeacherStopped", "RunLocked")  # one-line messages written for the user


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from fdd import stages

    replaced: dict = {}
    try:
        from fdd.validation import validate

        validate(cfg)  # bad input fails here, before Lightning and torch load (seconds)
        replaced = stages.stop_on(stop_signals(cfg))  # from here on a scheduler's stop acts as Ctrl-C
        from fdd.pipeline import run

        return run(cfg)
    except KeyboardInterrupt as e:  # Ctrl-C, or a stop signal (stages.Stopped)
        _say_stopped(stop_line(e, _run_dir(cfg)))
        sys.exit(stages.exit_code(e))
    except Exception as e:  # noqa: BLE001 - one line for the user; FDD_DEBUG=1 shows the traceback
        if (stop := stages.interrupt(e)) is not None:  # code cut short by the stop failed on its way out
            _say_stopped(stop_line(e, _run_dir(cfg), stop))
            sys.exit(stages.exit_code(stop))
        if os.environ.get("FDD_DEBUG"):
            raise
        print(f"fdd: error: {error_line(e)}", file=sys.stderr)
        sys.exit(2)
    finally:
        stages.restore(replaced)


def stop_signals(cfg: DictConfig) -> list[signal.Signals]:
    """`stop_signals` (conf/config.yaml) as signals; a bad name is bad input."""
    from fdd import stages
    from fdd.validation import UserError

    names = cfg.get("stop_signals", ["SIGTERM"]) or []
    try:
        return stages.parse_signals([names] if isinstance(names, str | int) else names)
    except ValueError as e:
        raise UserError(f"stop_signals: {e}") from None


def _run_dir(cfg: DictConfig) -> str | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(cfg.get("resume") or HydraConfig.get().runtime.output_dir)
    except Exception:  # noqa: BLE001 - outside a Hydra job: the line goes without the directory
        return None


def _say_stopped(line: str) -> None:
    """DDP: every rank stops, rank 0 alone says how to resume (ranks share the console). The ranks as
    fdd/pipeline.py's is_rank_zero reads them, without loading torch."""
    if all(int(os.environ.get(k) or 0) == 0 for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")):
        print(line, file=sys.stderr)


def stop_line(e: BaseException, run_dir: str | None, stop: KeyboardInterrupt | None = None) -> str:
    """The resume line of an interrupted run: what stopped it (`stop`, default `e`), in which stage,
    how to go on."""
    from fdd import stages

    how = f"by {stop or e}" if isinstance(stop or e, stages.Stopped) else "(Ctrl-C)"
    at = stages.where(e)
    return (f"fdd: interrupted {how}{f' in {at}' if at else ''}; rerun the same command"
            f"{f' (or resume={run_dir})' if run_dir else ''} to continue from the last committed round")


def error_line(e: BaseException) -> str:
    """An unexpected error with the stage it happened in and the resume hint; bad input and a stopped
    teacher as their own message says."""
    from fdd import stages

    top, msg = describe(e)
    if type(top).__name__ in OWN_WORDING:
        return msg
    at = stages.where(e)
    return f"{f'in {at}: ' if at else ''}{msg}; {RESUME_HINT}"


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0].strip() if str(e).strip() else ""


def describe(e: BaseException) -> tuple[BaseException, str]:
    """The error to report and one line for it: Hydra's InstantiationException ("Error in call to
    target '…':", the cause on the next line) is skipped for the error it wraps; if that one was itself
    caused by another, the root cause (the end of the __cause__/__context__ chain) is appended unless
    its text is already there."""
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
    return top, msg


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
