#!/usr/bin/env python3
"""The code blocks that scripts share, kept byte-identical (tests/test_run_block.py checks them).

    python3 tests/sync_blocks.py          # list the copies that differ from their canonical one
    python3 tests/sync_blocks.py --write  # rewrite every copy from its canonical one

- The run block: from the line RUN_MARKER to the end of the script, the same in every script that has it.
  Its canonical copy is tests/run_block.py.
- Folder helpers: numpy helpers that several scripts of one example folder need (a reference convolution, resize,
  NMS...): from the line HELPER_MARKER to the run block, the same in every script of that folder that has them.
  Their canonical copy is the one in the folder's SimpleExample.py, or, where it has none, in the first script
  (by name) that has them.
- The script runner: in a command.sh that runs several Python scripts, from the line RUNNER_MARKER to the line
  `EOF` that ends its here-document, the same in every command.sh that has it (one Python process runs the
  scripts named by the bash array `scripts` before it). Its canonical copy is tests/script_runner.sh.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from examples import ROOT, find_examples  # noqa: E402

CANONICAL_RUN_BLOCK = ROOT / "tests" / "run_block.py"
RUN_MARKER = CANONICAL_RUN_BLOCK.read_text(encoding="utf-8").splitlines(keepends=True)[0]
CANONICAL_RUNNER = ROOT / "tests" / "script_runner.sh"
RUNNER_MARKER = CANONICAL_RUNNER.read_text(encoding="utf-8").splitlines(keepends=True)[0]
HELPER_MARKER = "# ==== numpy helpers of this folder: identical in every script of the folder that has them ====\n"


def split_script(text):
    """(topic, helpers, run block) of a script's text; helpers and run block are '' where absent."""
    topic, run_block = text, ""
    if RUN_MARKER in text:
        topic, rest = text.split(RUN_MARKER, 1)
        run_block = RUN_MARKER + rest
    helpers = ""
    if HELPER_MARKER in topic:
        topic, rest = topic.split(HELPER_MARKER, 1)
        helpers = HELPER_MARKER + rest
    return topic, helpers, run_block


def split_command(text):
    """(before, script runner, after) of a command.sh's text; the runner is '' where absent."""
    if RUNNER_MARKER not in text:
        return text, "", ""
    before, rest = text.split(RUNNER_MARKER, 1)
    body, sep, after = rest.partition("\nEOF\n")
    return before, RUNNER_MARKER + body + sep, after


def example_commands():
    """Every example's command.sh."""
    return [ROOT / example / "command.sh" for example in find_examples()]


def example_scripts():
    """Every .py file of every example folder."""
    return [script for example in find_examples() for script in sorted((ROOT / example).glob("*.py"))]


def canonical_helpers(folder):
    """The canonical folder helpers of one folder, or None when no script there has them."""
    scripts = sorted(folder.glob("*.py"), key=lambda p: (p.name != "SimpleExample.py", p.name))
    for script in scripts:
        helpers = split_script(script.read_text(encoding="utf-8"))[1]
        if helpers:
            return helpers
    return None


def drifted():
    """[(script, what)] for every copy that differs from its canonical block."""
    run_block = CANONICAL_RUN_BLOCK.read_text(encoding="utf-8")
    found, canonical = [], {}  # canonical: {folder: its canonical helpers}, read once per folder
    for script in example_scripts():
        topic, helpers, block = split_script(script.read_text(encoding="utf-8"))
        if block and block != run_block:
            found.append((script, "run block"))
        if helpers and script.parent not in canonical:
            canonical[script.parent] = canonical_helpers(script.parent)
        if helpers and helpers != canonical[script.parent]:
            found.append((script, "folder helpers"))
    runner = CANONICAL_RUNNER.read_text(encoding="utf-8")
    for command in example_commands():
        block = split_command(command.read_text(encoding="utf-8"))[1]
        if block and block != runner:
            found.append((command, "script runner"))
    return found


def write_all():
    run_block = CANONICAL_RUN_BLOCK.read_text(encoding="utf-8")
    runner = CANONICAL_RUNNER.read_text(encoding="utf-8")
    for script, what in drifted():
        if what == "script runner":
            before, _, after = split_command(script.read_text(encoding="utf-8"))
            script.write_text(before + runner + after, encoding="utf-8")
            print(f"rewrote the {what} of {script.relative_to(ROOT)}")
            continue
        topic, helpers, block = split_script(script.read_text(encoding="utf-8"))
        if what == "run block":
            block = run_block
        else:
            helpers = canonical_helpers(script.parent)
        script.write_text(topic + helpers + block, encoding="utf-8")
        print(f"rewrote the {what} of {script.relative_to(ROOT)}")


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write_all()
    found = drifted()
    for script, what in found:
        print(f"{script.relative_to(ROOT)}: its {what} differs from the canonical copy")
    sys.exit(1 if found else 0)
