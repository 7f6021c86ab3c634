#!/usr/bin/env python3
"""Put what the examples printed on the GPU into their READMEs' "Expected output" sections.

    python3 tests/refresh_readme_outputs.py LOG_DIR [--gpu "NVIDIA H200"]

LOG_DIR holds the full outputs that the GPU tests keep with COOKBOOK_LOG_DIR=LOG_DIR (one `<folder_path>.log` per
example). In each README, the first code block under every `### X.py ...` heading gets the part of the log that
command.sh printed after its `=== X.py` line; a `### ... member scripts ...` heading gets the check lines of every
script but the first; an "## Expected output" section without `###` headings gets the output of the example's one
script, or the whole log where command.sh runs several. Long outputs are abridged: the first lines, then every `check result` line.
The line "Seen ..." right under a section's title names the GPU and TensorRT version of the run (a "Seen ..." line
elsewhere is prose, left alone).
"""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from examples import ROOT, find_examples, log_name  # noqa: E402

HEAD_LINES, MAX_LINES = 30, 60
SCRIPT_LINE = re.compile(r"^=+ *(?:python3 )?([\w.-]+\.py)\b")


def split_log(text):
    """{script name: its output} from a command.sh log whose scripts are announced by `=== X.py` lines."""
    parts, current = {}, None
    for line in text.splitlines():
        m = SCRIPT_LINE.match(line)
        if m:
            current = m.group(1)
            parts[current] = []
        elif current:
            parts[current].append(line)
    return {name: "\n".join(lines).strip("\n") for name, lines in parts.items()}


def abridge(output):
    lines = [line.rstrip() for line in output.splitlines()]
    if len(lines) <= MAX_LINES:
        return "\n".join(lines)
    rest = lines[HEAD_LINES:]
    checks = [line for line in rest if "check result" in line]
    return "\n".join(lines[:HEAD_LINES] + [f"... ({len(rest) - len(checks)} lines left out)"] + checks[:MAX_LINES])


def replace_block(section, start, body):
    """Replace the first fenced code block at or after `start` in section by `body`."""
    m = re.compile(r"^```[^\n]*\n.*?^```$", re.S | re.M).search(section, start)
    if not m:
        return section
    return section[:m.start()] + "```\n" + body + "\n```" + section[m.end():]


def heading_blocks(text):
    """[(heading match, start, end)]: each `### ...` heading and the text up to the next heading."""
    headings = list(re.finditer(r"^#{2,3} .*$", text, re.M))
    return [(h, h.end(), headings[i + 1].start() if i + 1 < len(headings) else len(text))
            for i, h in enumerate(headings)]


def refresh(example, log_text, gpu):
    readme = ROOT / example / "README.md"
    text = readme.read_text(encoding="utf-8")
    parts = split_log(log_text)
    scripts = sorted(p.name for p in (ROOT / example).glob("*.py"))
    if not parts and len(scripts) == 1:  # a command.sh that runs one script without announcing it
        parts = {scripts[0]: log_text.strip("\n")}
    for heading, start, end in reversed(heading_blocks(text)):
        title = heading.group(0)
        m = re.match(r"^### ([\w.-]+\.py)\b", title)
        if m and m.group(1) in parts:
            body = abridge(parts[m.group(1)])
        elif title.startswith("### ") and "member scripts" in title and len(parts) > 1:
            body = "\n".join(f"=== {name}\n" + "\n".join(line for line in output.splitlines() if "check result" in line)
                             for name, output in list(parts.items())[1:])
        elif title.startswith("## Expected output") and "\n### " not in text[start:end]:
            body = abridge(next(iter(parts.values())) if len(parts) == 1 else log_text.strip("\n"))
        else:
            continue
        section = replace_block(text[start:end], 0, body)
        text = text[:start] + section + text[end:]
    # the "Seen ..." line right under a section's title; other lines that start with "Seen" are prose
    text = re.sub(r"^(## [^\n]*\n\n)Seen (on an? [\w ]+ with TensorRT [\d.]+|with TensorRT [\d.]+ on an? [\w ]+)[^(\n]*",
                  rf"\1Seen with TensorRT 8.6.0 on an {gpu} ", text, count=1, flags=re.M)
    if text != readme.read_text(encoding="utf-8"):
        readme.write_text(text, encoding="utf-8")
        return True
    return False


def main(args):
    gpu = "H200"
    if "--gpu" in args:
        i = args.index("--gpu")
        gpu = args[i + 1]
        args = args[:i] + args[i + 2:]
    log_dir = Path(args[0])
    for example in find_examples():
        log = log_dir / (log_name(example) + ".log")
        if log.is_file() and refresh(example, log.read_text(encoding="utf-8", errors="replace"), gpu):
            print(f"refreshed {example}/README.md")


if __name__ == "__main__":
    main(sys.argv[1:])
