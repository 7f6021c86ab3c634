#!/usr/bin/env python3
"""The README catalogue: one row per example, made from the example's README and tests/gpu_verified.txt.

    python3 tests/catalogue.py          # print it
    python3 tests/catalogue.py --write  # rewrite the block between the markers in README.md

The summary of an example is the first paragraph of its README.md after the title.
tests/gpu_verified.txt lists, for each example that passed its GPU test (runs recorded in tests/GPU_RUNS.md), the
fingerprint of its files then (examples.fingerprint). The catalogue says "yes" only while the fingerprint still
matches; "changed since" when a file of the example changed after its GPU pass (`python3 -m pytest --stale-only`
runs just those on the GPU).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from examples import ROOT, find_examples, fingerprint  # noqa: E402

START, END = "<!-- catalogue:start -->", "<!-- catalogue:end -->"
VERIFIED = ROOT / "tests" / "gpu_verified.txt"


def read_verified():
    """{example folder: fingerprint when it passed on the GPU}."""
    if not VERIFIED.is_file():
        return {}
    lines = VERIFIED.read_text(encoding="utf-8").splitlines()
    pairs = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    return {pair[0]: (pair[1] if len(pair) > 1 else "") for pair in pairs}


def verification(example, verified=None):
    """"yes" (passed on the GPU with these very files), "changed since" or "not yet" (verified: read_verified())."""
    recorded = (read_verified() if verified is None else verified).get(Path(example).as_posix())
    if recorded is None:
        return "not yet"
    return "yes" if recorded == fingerprint(example) else "changed since"


def write_verified(entries):
    header = ("# Examples that passed their GPU test (runs in tests/GPU_RUNS.md): folder and the fingerprint of its\n"
              "# files at that run (tests/examples.py: fingerprint). Written by tests/record_gpu_run.py.\n")
    VERIFIED.write_text(header + "".join(f"{e} {h}\n" for e, h in sorted(entries.items())), encoding="utf-8")


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
    verified = read_verified()
    rows = ["| chapter | example | what it teaches | verified on a GPU |", "|---|---|---|---|"]
    for example in find_examples():
        path = example.as_posix()
        chapter = example.parts[0]
        name = "/".join(example.parts[1:]) or path
        mark = verification(example, verified)
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
