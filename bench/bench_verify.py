"""Label accuracy and yield of the new problems a run keeps, by `teacher.verify`, against a faulty
chat teacher (tests/fake_openai_server.py `faulty_responder`): 30 % of the programs that come with
its new problems are subtly wrong (a step dropped, a number changed), 5 % hard-code `ans = N`, 5 %
of its similar problems are near-copies of the parent, 3 % give a negative count, 20 % of its
replies put the program in an indented fence of a markdown list; asked to solve, it is right (or wrong for `--solve-wrong` of
its answers, slipping the same ways).

It runs the round boundary's teacher work for real (harder + similar requests over HTTP, the
parser, the sandbox, fdd.verify.verify with the static checks and the resolver), without a
student: every parent gets `--per-parent` harder and as many similar problems. Ground truth is
the fake world's: every question's answer is the sum of its numbers.

    python bench/bench_verify.py [--parents 100] [--per-parent 2] [--solve-wrong 0 0.1]

Label accuracy = kept with the right answer / kept; yield = right ones kept / right ones served;
relabelled = problems served with a wrong program but kept with the right answer (a majority of
fresh solutions outvoted the program: verify_samples >= 3).
Extra cost is what verification added, in requests, tokens and USD at gpt-4o-mini list prices
(conf/teacher/gpt_4o_mini.yaml), next to what generation cost. Exits non-zero if resolve misses
the issue's target (accuracy >= 98 %, yield >= 60 %) with a teacher that solves correctly.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fdd.problems import Problem  # noqa: E402
from fdd.rationales import get_format  # noqa: E402
from fdd.teachers.agreement import resolver_for  # noqa: E402
from fdd.teachers.openai_compat import OpenAITeacher  # noqa: E402
from fdd.teachers.parse import parse_problems  # noqa: E402
from fdd.verify import verify  # noqa: E402
from tests.fake_openai_server import FakeOpenAIServer  # noqa: E402
from tests.faulty_teacher import faulty_responder, true_answer  # noqa: E402

PRICES = {"price_per_1k_prompt": 0.00015, "price_per_1k_completion": 0.0006}  # gpt-4o-mini
MODES = [("none", 1), ("resolve", 1), ("resolve", 3)]


def parents(n: int) -> list[Problem]:
    out = []
    for i in range(n):
        a, b, c = 3 + i % 17, 5 + (2 * i) % 23, 2 + i % 7
        q = (f"Ann has {a} pens and buys {b} more. How many pens does Ann have now?" if i % 2 else
             f"A shop sells {a} apples in the morning, {b} at noon and {c} in the evening. How many apples "
             f"does it sell in all? (day {i})")
        out.append(Problem(id=f"p{i}", question=q, answer=true_answer(q)))
    return out


def measure(mode: str, k: int, n_parents: int, per: int, solve_wrong: float) -> dict:
    served: dict[str, str] = {}
    base = faulty_responder(wrong=0.3, literal=0.05, near_copy=0.05, unfit=0.03, indented=0.2,
                            solve_wrong=solve_wrong)

    def responder(prompt: str, index: int) -> str:
        text = base(prompt, index)
        if "Make" in prompt:
            served.update(dict(parse_problems(text, "pot")))
        return text

    fmt = get_format("pot")
    ps = parents(n_parents)
    with FakeOpenAIServer(responder=responder) as server, tempfile.TemporaryDirectory() as run_dir:
        t = OpenAITeacher(model="fake-model", base_url=server.url, api_key="bench", run_dir=run_dir, verify=mode,
                          verify_samples=k, concurrency=16, timeout=30, **PRICES)
        new = [c for fam in t.harder(ps, per, 0) + t.similar(ps, per, 0) for c in fam]
        gen = t.usage()
        checked = verify(new, fmt, [p.question for p in ps], parents={p.id: p for p in ps},
                         resolver=resolver_for(t, fmt, 0), checks=t.checks)
        total = t.usage()
        t.close()
    right = {q for q, a in zip(served, fmt.answers(list(served.values()))) if a.value == true_answer(q)}
    kept_right = [c for c in checked.kept if c.answer == true_answer(c.question)]
    return {"mode": mode if mode == "none" else f"resolve k={k}", "served": len(served), "right": len(right),
            "kept": len(checked.kept), "kept_right": len(kept_right),
            "accuracy": len(kept_right) / max(1, len(checked.kept)),
            "yield": len([c for c in kept_right if c.question in right]) / max(1, len(right)),
            "rescued": len([c for c in kept_right if c.question not in right]),
            "gen_requests": gen.requests, "gen_cost": gen.cost_usd,
            "extra_requests": total.requests - gen.requests,
            "extra_tokens": total.prompt_tokens + total.completion_tokens - gen.prompt_tokens - gen.completion_tokens,
            "extra_cost": total.cost_usd - gen.cost_usd, "rejected_by": dict(checked.rejected)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parents", type=int, default=100)
    ap.add_argument("--per-parent", type=int, default=2)
    ap.add_argument("--solve-wrong", type=float, nargs="+", default=[0.0, 0.1])
    args = ap.parse_args()
    ok = True
    print("| solver wrong | verify | served (right) | kept | label accuracy | yield | relabelled | extra requests "
          "| extra tokens | extra cost (gen. cost) | rejected_by |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for sw in args.solve_wrong:
        for mode, k in MODES:
            r = measure(mode, k, args.parents, args.per_parent, sw)
            print(f"| {sw:.0%} | {r['mode']} | {r['served']} ({r['right']}) | {r['kept']} | {r['accuracy']:.1%} | "
                  f"{r['yield']:.1%} | {r['rescued']} | {r['extra_requests']} | {r['extra_tokens']} | ${r['extra_cost']:.4f} "
                  f"(${r['gen_cost']:.4f}) | {r['rejected_by']} |", flush=True)
            if sw == 0 and mode == "resolve" and not (r["accuracy"] >= 0.98 and r["yield"] >= 0.6):
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
