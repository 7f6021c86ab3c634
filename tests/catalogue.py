#!/usr/bin/env python3
"""The README catalogue: one row per example, made from the example's README and tests/gpu_verified.txt.

    python3 tests/catalogue.py          # print it
    python3 tests/catalogue.py --write  # rewrite the block between the markers in README.md

The summary of an example is the first paragraph of its README.md after the title.
tests/gpu_verified.txt lists the examples that passed in the GPU run recorded in tests/GPU_RUNS.md.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from examples import ROOT, find_examples  # noqa: E402

START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"
VERIFIED = ROOT / "tests" / "gpu_verified.txt"


def read_verified():
    if not VERIFIED.is_file():
        return []
    lines = VERIFIED.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def summary(example):
    readme = ROOT / example / "README.md"
    if not readme.is_file():
        return "(README.md missing)"
    lines = readme.read_text(encoding="utf-8").splitlines()
    paragraph = []
    for line in lines[1:]:
        if line.strip():
            if line.startswith("#") or line.startswith("|") or line.startswith("```"):
                break
            paragraph.append(line.strip())
        elif paragraph:
            break
    return " ".join(paragraph).replace("|", "\\|")


def render_catalogue():
    verified = set(read_verified())
    rows = ["| chapter | example | what it teaches | verified on a GPU |", "|---|---|---|---|"]
    for example in find_examples():
        path = example.as_posix()
        chapter = example.parts[0]
        name = "/".join(example.parts[1:]) or path
        mark = "yes" if path in verified else "not yet"
        rows.append(f"| {chapter} | [{name}]({path}/) | {summary(example)} | {mark} |")
    return "\n".join(rows)


def read_readme_catalogue():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    if START not in text or END not in text:
        return None
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def write_readme_catalogue():
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{START}\n{render_catalogue()}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write_readme_catalogue()
    else:
        print(render_catalogue())
