"""Reading rationales and new problems out of free-form LLM responses.

LLMs do not follow output formats exactly: code comes fenced or bare, with prose before and
after; several problems arrive numbered "1.", headed "Problem 1:" / "**Question 2**", or just as
repeated "Question: ... Program: ..." pairs. Everything here is lenient and never raises: a
response with nothing usable gives None / [] and the caller counts it as unparsed.

Nothing here executes model text: Python code is only checked with `ast.parse`.
"""

from __future__ import annotations

import ast
import re
import textwrap

from fdd.rationales import eot_equations

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S)
_CODE_LINE = re.compile(
    r"""^(?:\s*\#.*                                   # comment
        |\s*[A-Za-z_][\w.\[\]'"]*(?:\s*,\s*[A-Za-z_]\w*)*\s*(?:[-+*/%]|//|\*\*)?=(?!=).*  # assignment
        |\s*(?:def|return|import|from|for|while|if|elif|else|try|except|with|print|class)\b.*
        |\s+\S.*                                     # indented continuation
        |\s*\)\s*|\s*\]\s*|\s*\}\s*)$""", re.X)
_STRONG_HEADER = re.compile(
    r"^[\s#*_>]*(?:new\s+|harder\s+|similar\s+)?(?:problem|question|variation|example)\s*#?\s*(\d+)\s*[*_]*\s*[:.)\-]?[*_]*\s*",
    re.I)
_WEAK_HEADER = re.compile(r"^[\s*_]*(\d+)\s*[.)]\s+")
_Q_LABEL = re.compile(r"^[\s#*_>•-]*(?:\d+[.)]\s+)?[\s*_]*(?:new\s+)?(?:question|problem)\s*[*_]*\s*:[*_]*\s*", re.I)
_R_LABEL = re.compile(
    r"^[\s#*_>•-]*(?:\d+[.)]\s+)?[\s*_]*(?:python\s+)?(?:program|code|solution|rationale|reasoning|answer|equations?|system(?:\s+of\s+equations)?)"
    r"\s*[*_]*\s*:[*_]*\s*", re.I)
_ANSWER_IS = re.compile(r"answer\s+is\s*:?\s*\$?\s*(-?[\d,]*\.?\d+(?:\s*/\s*\d+)?)\s*%?", re.I)


# --- single rationales ------------------------------------------------------------------------
def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def extract_code(text: str) -> str | None:
    """The Python program in a response: the first fenced block that parses, else the longest run
    of code-looking lines (trimmed from the end until it parses)."""
    for lang, body in _FENCE.findall(text or ""):
        body = textwrap.dedent(body).strip("\n")  # a fence inside a markdown list item is indented
        if lang.lower() in ("", "python", "py", "python3") and body.strip() and _parses(body):
            return body.strip("\n").rstrip()
    lines = (text or "").replace("\r\n", "\n").split("\n")
    best: list[str] = []
    run: list[str] = []
    for line in [*lines, "<end>"]:
        if line.strip() and _CODE_LINE.match(line) and not (not run and line[:1].isspace()):
            run.append(line)
        elif not line.strip() and run:
            run.append(line)
        else:
            if sum(1 for x in run if x.strip()) > sum(1 for x in best if x.strip()):
                best = run
            run = []
    while best and not _parses("\n".join(best)):
        best = best[:-1]
    code = "\n".join(best).strip("\n")
    return code or None


def extract_pot(text: str) -> str | None:
    """A PoT program: parseable Python with at least one assignment or a `solution` function."""
    code = extract_code(text)
    if code is None:
        return None
    tree = ast.parse(code)
    if not any(isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.FunctionDef) for n in ast.walk(tree)):
        return None
    return code


def extract_cot(text: str) -> str | None:
    """Worked text cut just after its last "The answer is X." sentence; GSM8K's "#### X" and a
    closing "Answer: X" line are rewritten to that sentence. None without a final answer."""
    text = re.sub(r"```[^\n]*\n?", "", text or "").strip()
    hits = list(_ANSWER_IS.finditer(text))
    if hits:
        end = hits[-1].end()
        if end < len(text) and text[end] == ".":
            end += 1
        body = text[:end].strip()
        return body if body.endswith(".") else body + "."
    m = re.search(r"(?:^|\n)\s*(?:####|\**final answer\**:|\**answer\**:)\s*\$?(-?[\d,]*\.?\d+)\s*$", text, re.I)
    if m:
        body = text[:m.start()].strip()
        return f"{body} The answer is {m.group(1).replace(',', '')}.".strip()
    return None


def extract_eot(text: str) -> str | None:
    eqs = eot_equations(text)
    return None if eqs is None else "\n".join(f"{lhs} = {rhs}" for lhs, rhs in eqs)


EXTRACTORS = {"pot": extract_pot, "cot": extract_cot, "eot": extract_eot}


def extract_rationale(text: str, fmt: str) -> str | None:
    """The rationale in `fmt` (pot / cot / eot) found in a response, or None."""
    try:
        return EXTRACTORS[fmt](text)
    except KeyError:
        raise ValueError(f"no parser for rationale format {fmt!r} (known: {', '.join(EXTRACTORS)})") from None
    except (RecursionError, MemoryError, ValueError):  # pathological text: count it as unparsed
        return None


# --- several problems in one response ---------------------------------------------------------
def _outside_fences(lines: list[str]) -> list[bool]:
    out, inside = [], False
    for line in lines:
        if line.lstrip().startswith("```"):
            out.append(False)
            inside = not inside
        else:
            out.append(not inside)
    return out


def _chunks(text: str) -> list[str]:
    """Split a response into one chunk per problem (a preamble before the first header is dropped)."""
    lines = text.replace("\r\n", "\n").split("\n")
    free = _outside_fences(lines)

    def cut(starts: list[int], header: re.Pattern | None) -> list[str]:
        out = []
        for a, b in zip(starts, [*starts[1:], len(lines)]):
            first = header.sub("", lines[a], count=1) if header else lines[a]
            out.append("\n".join([first, *lines[a + 1:b]]))
        return out

    strong = [i for i, line in enumerate(lines) if free[i] and _STRONG_HEADER.match(line)
              and not _Q_LABEL.match(line)]
    if strong:
        return cut(strong, _STRONG_HEADER)
    labels = [i for i, line in enumerate(lines) if free[i] and _Q_LABEL.match(line)]
    if len(labels) >= 2:
        return cut(labels, None)
    weak = [i for i, line in enumerate(lines) if free[i] and _WEAK_HEADER.match(line)]
    numbers = [int(_WEAK_HEADER.match(lines[i]).group(1)) for i in weak]
    if len(weak) >= 2 and numbers == list(range(1, len(weak) + 1)):
        return cut(weak, _WEAK_HEADER)
    return [text]


def _clean_question(text: str) -> str:
    label = re.search(r"\bquestion\s*[*_]*\s*:[*_]*", text, re.I)  # drop what precedes the label
    text = text[label.end():] if label else _Q_LABEL.sub("", text.strip(), count=1)
    text = re.sub(r"[*_]{2,}", "", text)
    return re.sub(r"\s+", " ", text).strip().strip('"').strip()


def _split_chunk(chunk: str, fmt: str) -> tuple[str, str] | None:
    lines = chunk.split("\n")
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("```") or _R_LABEL.match(line)), None)
    if start is None and fmt == "pot":
        code = extract_code(chunk)
        if code:
            first = code.split("\n")[0].rstrip()
            start = next((i for i, line in enumerate(lines) if line.rstrip() == first), None)
    if start is None:  # cot / eot without labels: the question ends at its first "?"
        q_end = chunk.find("?")
        if q_end < 0:
            return None
        question, rest = chunk[:q_end + 1], chunk[q_end + 1:]
    else:
        question = "\n".join(lines[:start])
        first = _R_LABEL.sub("", lines[start], count=1)
        rest = "\n".join([first, *lines[start + 1:]])
    question = _clean_question(question)
    rationale = extract_rationale(rest, fmt)
    if len(question.split()) < 4 or rationale is None:
        return None
    return question, rationale


def parse_problems(text: str, fmt: str) -> list[tuple[str, str]]:
    """(question, rationale) pairs from a response that writes one or more new problems."""
    out = []
    for chunk in _chunks(text or ""):
        try:
            pair = _split_chunk(chunk, fmt)
        except (RecursionError, MemoryError, ValueError):
            pair = None
        if pair is not None:
            out.append(pair)
    return out
