"""The PoT sandbox: correct answers for benign programs, containment for hostile ones.

Every hostile case checks four things: the error kind, that no file appeared in the workers' cwd,
that no process outlived the program (descendants of this test process are exactly the pool's
workers), and that the pool still answers a benign program correctly afterwards.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from fdd.sandbox import ERRORS, Executor, Outcome, execute, get_executor, policy, pool
from fdd.sandbox import builtins as sandbox_builtins

ROOT = Path(__file__).resolve().parents[1]
BENIGN = "apples = 12\nbought = 5\ntotal = apples + bought\ngiven = 3\nans = total - given\n"
TIMEOUT = 1.0


def _descendants(pid: int) -> set[int]:
    """All live descendants of pid, from /proc (no psutil)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


@pytest.fixture(scope="module")
def sandbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox_cwd")


def _executor_in(sandbox_dir: Path, workers: int, timeout: float) -> Executor:
    """Workers are started with the empty temp dir as cwd, so any file they create shows up there."""
    old = os.getcwd()
    os.chdir(sandbox_dir)
    try:
        return Executor(workers=workers, timeout=timeout, memory_mb=256, grace=0.5)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def ex(sandbox_dir: Path):
    executor = _executor_in(sandbox_dir, workers=2, timeout=TIMEOUT)
    yield executor
    executor.close()


@pytest.fixture
def roomy(sandbox_dir: Path):
    """Like `ex`, with a wall clock no memory-growth program comes near (it stops at the memory limit
    in ~0.25 s on a quiet machine; with a loaded one, 1 s was sometimes reached first). Closed after
    each test, as later tests count the processes alive."""
    executor = _executor_in(sandbox_dir, workers=1, timeout=30.0)
    yield executor
    executor.close()


def _pool_pids(*executors: Executor) -> set[int]:
    """Workers of these executors and of the shared one (other tests may have started it)."""
    shared = pool._SHARED
    return {pid for e in executors for pid in e.worker_pids()} | (set(shared.worker_pids()) if shared else set())


def _contained(ex: Executor, sandbox_dir: Path, program: str, expected: set[str], *alive: Executor) -> Outcome:
    """`alive`: other executors whose workers are running and are not the program's leftovers."""
    [outcome] = ex.run([textwrap.dedent(program)])
    assert outcome.error in expected, outcome
    assert outcome.answer is None
    assert list(sandbox_dir.iterdir()) == [], "a file was created"
    time.sleep(0.05)  # let a killed worker's replacement register
    stray = _descendants(os.getpid()) - _pool_pids(ex, *alive)
    assert not stray, f"processes outlived the program: {stray}"
    assert ex.run([BENIGN]) == [Outcome(14.0)]
    return outcome


# --------------------------------------------------------------------------- benign programs


@pytest.mark.parametrize(
    "program, expected",
    [
        (BENIGN, 14.0),
        ("def solution():\n    a = 3\n    return a * 4 / 8\n", 1.5),
        ("x = 5\ny = x * 2\n", 10.0),
        ("total = 0\nfor i in range(5):\n    total += i\n", 10.0),  # final value of the last name
        ("a, b = 1, 2\n", 2.0),
        ("ans = 1\ndef solution():\n    return 2\n", 1.0),  # ans wins over solution()
        ("from fractions import Fraction\nans = Fraction(1, 3) * 6\n", 2.0),
        ("from decimal import Decimal\nans = Decimal('0.1') + Decimal('0.2')\n", 0.3),
        ("import math\nans = math.sqrt(16) + math.floor(2.7)\n", 6.0),
        ("import sympy\nx = sympy.symbols('x')\nans = sympy.solve(sympy.Eq(2 * x + 3, 11), x)[0]\n", 4.0),
        ("from sympy import symbols, Eq, solve, Rational\nx, y = symbols('x y')\n"
         "s = solve([Eq(x + y, 10), Eq(x - y, 2)], [x, y])\nans = s[x] * Rational(1, 2)\n", 3.0),
        ("from sympy import sqrt\nans = sqrt(2) ** 2 + 1\n", 3.0),
        ("from sympy.abc import x\nimport sympy\nans = sympy.solve(x - 7, x)[0]\n", 7.0),
        ("import statistics, itertools, functools\n"
         "ans = statistics.mean([1, 2, 3]) + len(list(itertools.combinations(range(4), 2)))"
         " + functools.reduce(lambda a, b: a + b, [1, 1])\n", 10.0),
        ("if __name__ == '__main__':\n    ans = 4\n", 4.0),
        ("print('working...')\nans = 2 ** 10\n", 1024.0),
        ("x = 7\nx **= 2\n", 49.0),
        ("def g():\n    yield 1\n    yield 2\nans = sum(g())\n", 3.0),
        ("ans = pow(2, 5, 7)\n", 4.0),
        ("type = 3\nans = type + 1\n", 4.0),  # blocked builtin names are fine as the program's own variables
        ("print('total: {} apples'.format(7))\nans = float('{:.1f}'.format(2.25))\n", 2.2),
        ("ans = int(str.format('{0}{k}', 1, k=2)) + int('{n}'.format_map({'n': 3}))\n", 15.0),
    ],
)
def test_benign_answers(ex: Executor, program: str, expected: float) -> None:
    [outcome] = ex.run([program])
    assert outcome.ok, outcome
    assert outcome.answer == pytest.approx(expected)


def test_special_numbers(ex: Executor) -> None:
    big, neg, nan, true, text, lst, nothing, cplx = ex.run([
        "ans = 10 ** 400", "ans = -(10 ** 400)", "ans = float('nan')", "ans = True", "ans = 'five'",
        "ans = [1, 2]", "print(3)", "ans = complex(1, 2)",
    ])
    assert big.answer == math.inf and big.ok
    assert neg.answer == -math.inf
    assert nan.answer is not None and math.isnan(nan.answer)
    for o in (true, text, lst, nothing, cplx):
        assert o.error == "runtime" and o.answer is None and o.message


def test_order_dedup_and_many_chunks(ex: Executor) -> None:
    programs = [f"a = {i}\nans = a * 2\n" for i in range(300)] + ["x = (", "ans = 1 / 0"] * 20 + [BENIGN] * 50
    outcomes = ex.run(programs)
    assert [o.answer for o in outcomes[:300]] == [2.0 * i for i in range(300)]
    assert [o.error for o in outcomes[300:340]] == ["syntax", "runtime"] * 20
    assert all(o == Outcome(14.0) for o in outcomes[340:])
    assert ex.run([]) == []


def test_errors_are_from_the_documented_set(ex: Executor) -> None:
    outcomes = ex.run(["x = (", "ans = 1/0", "import os", "print('x' * 20000)", "ans = [0] * 10**10"])
    assert [o.error for o in outcomes] == ["syntax", "runtime", "forbidden", "output_limit", "memory"]
    assert all(o.error in ERRORS for o in outcomes)


def test_shared_executor() -> None:
    assert get_executor() is get_executor()
    assert execute([BENIGN, "ans = 2"]) == [Outcome(14.0), Outcome(2.0)]


def test_seccomp_is_active(ex: Executor) -> None:
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        pytest.skip("the syscall filter is x86-64 Linux only")
    assert ex.run(["ans = 1"]) == [Outcome(1.0)]  # workers report the filter when they are ready
    assert ex.seccomp_active


# --------------------------------------------------------------------------- hostile programs

HOSTILE = {
    # resource exhaustion
    "infinite_loop": ("while True:\n    pass\n", {"timeout"}),
    "loop_swallowing_timeouts": ("while True:\n    try:\n        while True:\n            pass\n"
                                 "    except:\n        pass\n", {"timeout"}),
    "memory_bomb": ("x = [0] * (10 ** 10)\n", {"memory"}),
    "long_integer": ("ans = 10 ** 10 ** 8\n", {"memory", "timeout"}),
    "long_integer_pow": ("ans = pow(10, 10 ** 8)\n", {"memory", "timeout"}),
    "long_integer_squaring": ("x = 10\nfor i in range(40):\n    x = x * x\nans = x\n", {"memory", "timeout"}),
    "deep_recursion": ("def f(n):\n    return f(n + 1)\nans = f(0)\n", {"runtime"}),
    "huge_print": ("print('a' * 10 ** 6)\n", {"output_limit"}),
    "print_loop": ("while True:\n    print('spam')\n", {"output_limit"}),
    "print_loop_swallowed": ("while True:\n    try:\n        print('x' * 1000)\n    except:\n        pass\n",
                             {"output_limit"}),
    # processes, files, network
    "fork_bomb": ("import os\nwhile True:\n    os.fork()\n", {"forbidden"}),
    "os_system": ("import os\nos.system('touch pwned')\nans = 1\n", {"forbidden"}),
    "subprocess": ("import subprocess\nsubprocess.run(['touch', 'pwned'])\n", {"forbidden"}),
    "open_write": ("open('pwned', 'w').write('x')\nans = 1\n", {"forbidden"}),
    "socket": ("import socket\ns = socket.socket()\nans = 1\n", {"forbidden"}),
    "ctypes": ("import ctypes\nans = 1\n", {"forbidden"}),
    "importlib": ("import importlib\nans = 1\n", {"forbidden"}),
    "relative_import": ("from . import execution\nans = 1\n", {"forbidden"}),
    "import_caught": ("try:\n    import os\nexcept Exception:\n    pass\nans = 1\n", {"forbidden"}),
    # exits, signals, limits
    "sys_exit": ("import sys\nsys.exit(0)\n", {"forbidden"}),
    "os_exit": ("import os\nos._exit(0)\n", {"forbidden"}),
    "raise_system_exit": ("raise SystemExit(3)\n", {"runtime"}),
    "exit_builtin": ("exit()\n", {"forbidden"}),
    "signal_tampering": ("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n",
                         {"forbidden"}),
    "raise_limits": ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n", {"forbidden"}),
    # escapes through the object graph
    "dunder_import": ("__import__('os').system('touch pwned')\n", {"forbidden"}),
    "builtins_dict": ("__builtins__['open']('pwned', 'w')\n", {"forbidden"}),
    "del_builtins": ("del __builtins__\nans = 1\n", {"forbidden"}),
    "subclasses": ("ans = ().__class__.__base__.__subclasses__()\n", {"forbidden"}),
    "type_subclasses": ("ans = type.__subclasses__(object)\n", {"forbidden"}),
    "getattr_concat": ("f = lambda: 0\ng = getattr(f, '__glo' + 'bals__')\n", {"forbidden"}),
    "func_globals": ("f = lambda: 0\ng = f.__globals__\n", {"forbidden"}),
    "gen_frame": ("def g():\n    yield 1\nx = g()\nfr = x.gi_frame.f_back.f_globals\n", {"forbidden"}),
    "traceback_frame": ("try:\n    1 / 0\nexcept Exception as e:\n    fr = e.__traceback__.tb_frame\n",
                        {"forbidden"}),
    "format_attr": ("ans = '{0.__class__}'.format(1)\n", {"forbidden"}),
    "format_map_attr": ("ans = '{a.__class__}'.format_map({'a': 1})\n", {"forbidden"}),
    "str_format_unbound": ("f = str.format\nans = f('{0.__class__}', 1)\n", {"forbidden"}),
    "format_nested_spec": ("ans = '{0:{1.__class__}}'.format(1, 2)\n", {"forbidden"}),
    "format_dynamic_template": ("t = '{0.' + '_' * 2 + 'class' + '_' * 2 + '}'\nans = t.format(1)\n", {"forbidden"}),
    "format_map_dynamic": ("t = '{a.real}'\nf = t.format_map\nans = f({'a': 1})\n", {"forbidden"}),
    "vars": ("ans = vars()\n", {"forbidden"}),
    "globals": ("ans = globals()\n", {"forbidden"}),
    "eval": ("ans = eval('1 + 1')\n", {"forbidden"}),
    "exec": ("exec('ans = 1')\n", {"forbidden"}),
    "compile": ("c = compile('1', 'x', 'eval')\n", {"forbidden"}),
    "breakpoint": ("breakpoint()\n", {"forbidden"}),
    "help": ("help()\n", {"forbidden"}),
    "input": ("ans = int(input())\n", {"forbidden"}),
    "memoryview": ("m = memoryview(b'x')\n", {"forbidden"}),
    "metaclass": ("class M(type):\n    pass\nclass A(metaclass=M):\n    pass\n", {"forbidden"}),
    "attribute_assignment": ("import math\nmath.sqrt = abs\nans = 1\n", {"forbidden"}),
    "match_class_attrs": ("match 1:\n    case int(__class__=c):\n        ans = c\n", {"forbidden"}),
    "sympy_sympify": ("import sympy\nans = sympy.sympify(\"__import__('os').system('touch pwned')\")\n",
                      {"forbidden"}),
    "sympy_from_import_hidden": ("from sympy import parse_expr\n", {"forbidden"}),
    "sympy_S_string": ("from sympy import S\nans = S(\"__import__('os').system('touch pwned')\")\n", {"forbidden"}),
    "sympy_string_arg": ("import sympy\nans = sympy.simplify(\"__import__('os').getpid()\")\n", {"forbidden"}),
    "sympy_subs_string": ("from sympy import Symbol\nx = Symbol('x')\nans = x.subs(x, \"__import__('os')\")\n",
                          {"forbidden"}),
    "sympy_lambdify": ("import sympy\nf = sympy.lambdify\n", {"forbidden"}),
    "sympy_nsolve": ("import sympy\nx = sympy.Symbol('x')\nans = sympy.nsolve(x ** 2 - 2, x, 1)\n", {"forbidden"}),
    "sympy_submodule": ("import sympy\nc = sympy.core\n", {"forbidden"}),
    "fraction_power": ("from fractions import Fraction\nans = Fraction(10) ** (10 ** 8)\n", {"memory"}),
    "sympy_power": ("import sympy\nans = sympy.Integer(10) ** (10 ** 8)\n", {"memory"}),
    "huge_factorial": ("import math\nans = math.factorial(10 ** 8)\n", {"timeout"}),
    "generator_finally_loop": ("def g():\n    try:\n        yield 1\n    finally:\n        while True:\n"
                               "            pass\nx = g()\nnext(x)\nans = 1\n", {"timeout"}),
    "too_long": ("x = 1\n" * 30_000 + "ans = x\n", {"forbidden"}),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_is_contained(ex: Executor, sandbox_dir: Path, name: str) -> None:
    program, expected = HOSTILE[name]
    _contained(ex, sandbox_dir, program, expected)


GROWTH = {  # memory taken 10 MB at a time, every byte written, until the 256 MB limit
    "bytearray": "chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))\n",
    "str": "chunks = []\nwhile True:\n    chunks.append('x' * 10 ** 7)\n",
}


@pytest.mark.parametrize("name", list(GROWTH))
def test_growing_memory_meets_the_memory_limit(ex: Executor, roomy: Executor, sandbox_dir: Path, name: str) -> None:
    _contained(roomy, sandbox_dir, GROWTH[name], {"memory"}, ex)


def test_caught_exceptions_do_not_hide_the_limit(ex: Executor) -> None:
    [o] = ex.run(["try:\n    while True:\n        pass\nexcept BaseException:\n    pass\nans = 1\n"])
    assert o.error == "timeout"


def test_batch_survives_killed_workers(ex: Executor, sandbox_dir: Path) -> None:
    """Programs after a worker-killing one (same chunk) still run, in order."""
    killer = "x = 10\nfor i in range(40):\n    x = x * x\n"
    programs = [f"ans = {i}" for i in range(10)] + [killer] + [f"ans = {i}" for i in range(10, 20)]
    outcomes = ex.run(programs)
    assert [o.answer for o in outcomes[:10] + outcomes[11:]] == [float(i) for i in range(20)]
    assert outcomes[10].error in {"timeout", "memory"}
    assert _descendants(os.getpid()) == _pool_pids(ex)


def test_programs_do_not_leak_state_into_later_ones() -> None:
    """One worker, so every program runs after the previous one in the same process."""
    with Executor(workers=1, timeout=TIMEOUT) as single:
        outcomes = single.run([
            "secret = 41\nans = 1", "ans = secret + 1",
            "from decimal import getcontext, DivisionByZero\ngetcontext().traps[DivisionByZero] = False\n"
            "getcontext().prec = 3\nans = 1",
            "from decimal import Decimal\nans = Decimal(1) / Decimal(3) * 3",
            "from decimal import Decimal\nans = Decimal(1) / Decimal(0)",
            "del print\nans = 1", "print('still here')\nans = 2",
            "def sqrt(x):\n    return 0\nans = 1", "import math\nans = math.sqrt(16)",
        ])
    assert [o.error for o in outcomes] == [None, "runtime", "forbidden", None, "runtime", "runtime", None, None, None]
    assert outcomes[3].answer == pytest.approx(1.0) and outcomes[6].answer == 2.0 and outcomes[8].answer == 4.0


def test_seccomp_layer_alone_blocks_processes_sockets_and_writes(tmp_path: Path) -> None:
    """Second layer: even with full Python access after the filter, no fork/exec/socket/write."""
    if sys.platform != "linux" or os.uname().machine != "x86_64":
        pytest.skip("the syscall filter is x86-64 Linux only")
    code = textwrap.dedent(f"""
        import os, socket, subprocess
        from fdd.sandbox import seccomp as E
        assert E._install_seccomp()
        attempts = {{
            "fork": os.fork, "socket": socket.socket,
            "write": lambda: open({str(tmp_path / "pwned")!r}, "w"),
            "exec": lambda: subprocess.run(["true"]),
            "kill": lambda: os.kill(os.getppid(), 0),
            "mkdir": lambda: os.mkdir({str(tmp_path / "dir")!r}),
        }}
        for name, attempt in attempts.items():
            try:
                attempt()
                print(name, "ALLOWED")
            except (PermissionError, OSError):
                print(name, "blocked")
        print("read", len(open("/proc/self/status").read()) > 0)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "ALLOWED" not in out.stdout and out.stdout.count("blocked") == 6, out.stdout + out.stderr
    assert "read True" in out.stdout
    assert list(tmp_path.iterdir()) == []


def test_library_eval_is_refused_while_a_program_runs() -> None:
    """The worker's guard on the real eval/exec/compile (what sympy's string parsing ends in)."""
    code = textwrap.dedent("""
        from fdd.sandbox import builtins as E
        E._guard_builtins()
        assert eval("1 + 1") == 2  # no program running: allowed
        E._STATE.active = True
        try:
            eval("1 + 1")
        except E._Forbidden:
            print("refused", E._STATE.first.error)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "refused forbidden", out.stderr


def test_namespace_reaches_no_module_or_frame() -> None:
    """Walk every non-blocked attribute reachable from the sandbox namespace (3 levels deep)."""
    import builtins
    import warnings

    proxies = sandbox_builtins._build_proxies()
    namespace = sandbox_builtins._build_builtins(proxies)
    danger = {id(getattr(builtins, n)) for n in policy._BLOCKED_NAMES | {"__import__"} if hasattr(builtins, n)}
    bad = (types.FrameType, types.CodeType, types.TracebackType)
    frontier = [(k, v) for k, v in namespace.items() if not k.startswith("__")] + list(proxies.items())
    allowed_modules = {id(p) for p in proxies.values()}
    seen: set[int] = set()
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            nxt = []
            for path, obj in frontier:
                if id(obj) in seen:
                    continue
                seen.add(id(obj))
                for attr in dir(obj):
                    if attr in policy._BLOCKED_ATTRS or attr.startswith(policy._BLOCKED_ATTR_PREFIXES):
                        continue
                    try:
                        value = getattr(obj, attr)
                    except Exception:  # noqa: BLE001 - properties may raise
                        continue
                    if isinstance(value, bad) or id(value) in danger or (
                        isinstance(value, types.ModuleType) and id(value) not in allowed_modules
                    ):
                        found.append(f"{path}.{attr}")
                    nxt.append((f"{path}.{attr}", value))
            frontier = nxt
    assert not found


def test_static_check_unit() -> None:
    ok = policy.compile_program("x = 1\nans = x + 1\n")
    assert isinstance(ok, tuple)
    assert policy.compile_program("x.__class__").error == "forbidden"
    assert policy.compile_program("(" * 300 + ")" * 300).error == "syntax"
    assert policy.compile_program("a = 1\x00").error == "syntax"


def test_closed_executor_leaves_no_process() -> None:
    executor = Executor(workers=1, timeout=TIMEOUT)
    pids = set(executor.worker_pids())
    assert executor.run(["ans = 3"]) == [Outcome(3.0)]
    executor.close()
    assert not pids & _descendants(os.getpid())
    with pytest.raises(RuntimeError):
        executor.run(["ans = 1"])


# --------------------------------------------------------------------------- CLI


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fdd.sandbox", *args], cwd=ROOT, capture_output=True,
                          text=True, input=stdin, timeout=60)


def test_cli_round_trip(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "program": BENIGN},
        {"id": 2, "program": "import os\nos.system('touch pwned')"},
        {"id": "c", "program": "while True:\n    pass"},
        {"id": "d", "program": "ans = 10 ** 400"},
        {"id": "e", "program": "x = ("},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    proc = _cli(str(path), "--timeout", "0.5", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out == [
        {"id": "a", "answer": 14.0, "error": None},
        {"id": 2, "answer": None, "error": "forbidden"},
        {"id": "c", "answer": None, "error": "timeout"},
        {"id": "d", "answer": "inf", "error": None},
        {"id": "e", "answer": None, "error": "syntax"},
    ]


@pytest.mark.parametrize("bad_line", ["{not json", "[1, 2]", '{"id": 1}', '{"id": 1, "program": 5}', '{"program": "ans=1"}'])
def test_cli_malformed_line(tmp_path: Path, bad_line: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": 1, "program": "ans = 1"}) + "\n" + bad_line + "\n")
    proc = _cli(str(path))
    assert proc.returncode == 2
    assert ":2:" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stdout == ""


def test_cli_missing_file(tmp_path: Path) -> None:
    proc = _cli(str(tmp_path / "nope.jsonl"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_files_beside_the_package_do_not_shadow_the_workers_stdlib(tmp_path: Path) -> None:
    """Workers import the caller's fdd from its folder, and only fdd: a `resource.py` lying next to
    the package (the workers import resource lazily, the parent never does) is not picked up."""
    (tmp_path / "fdd").symlink_to(ROOT / "fdd", target_is_directory=True)
    (tmp_path / "resource.py").write_text("raise SystemExit(3)\n")
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from fdd.sandbox import Executor, pool
        assert pool._ROOT == {str(tmp_path)!r}, pool._ROOT
        with Executor(workers=1) as ex:
            print(ex.run(["ans = 6 * 7"])[0].answer)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env=env)
    assert out.stdout.strip() == "42.0", out.stdout + out.stderr


def test_cli_old_name_is_an_alias(tmp_path: Path) -> None:
    """`python -m fdd.execution` (the sandbox's former module) runs the same command."""
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "a", "program": BENIGN}) + "\n" + json.dumps({"id": "b", "program": "import os"}) + "\n")
    old = subprocess.run([sys.executable, "-m", "fdd.execution", str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert old.returncode == 0, old.stderr
    assert old.stdout == _cli(str(path)).stdout
    assert [json.loads(line)["error"] for line in old.stdout.splitlines()] == [None, "forbidden"]
    bad = subprocess.run([sys.executable, "-m", "fdd.execution", str(tmp_path / "nope.jsonl")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


FAST_PATH_PROBES = [
    "x = 1", "x = 2 ** 3", "def f(a, b=2):\n    return a * b\nans = f(3)", "for _ in range(3):\n    pass",
    "_x = 1", "f_total = 3", "match 1:\n    case 1:\n        ans = 1", "match 1:\n    case int(real=r):\n        ans = r",
    "g = (i for i in range(3))\nans = next(g)", "d = dict(__class__=1)", "x: int = 3", "import math\nans = math.pi",
    "l = [1]\nl.append(2)\nans = len(l)", "s = 'a'\nans = s.upper()", "__name__", "type = 1\nans = type",
    "ans = [x for x in range(3) if x]", "try:\n    pass\nexcept Exception as e:\n    ans = e.args",
]


@pytest.mark.parametrize("program", FAST_PATH_PROBES + [p for p, _ in HOSTILE.values()] + list(GROWTH.values()))
def test_fast_path_accepts_only_what_the_ast_check_accepts(program: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = policy.compile_program(program)
    monkeypatch.setattr(policy, "_FAST", None)
    slow = policy.compile_program(program)
    assert isinstance(fast, Outcome) == isinstance(slow, Outcome)
    if isinstance(fast, Outcome):
        assert fast == slow
