#!/usr/bin/env python3
"""Where the GPU suite's time goes: `python3 tests/profile_report.py LOGDIR [junit.xml ...]`.

LOGDIR holds the `<example>.profile.jsonl` files that a suite run with COOKBOOK_PROFILE_DIR wrote (tests/profiling/
sitecustomize.py: one line per Python process of an example, with its scripts and engine builds). For each example it
prints the time its command.sh took (from the JUnit file, the wait for its GPU turn taken out), the seconds its Python
processes lived, how many engines they built and how long the builds took, its slowest script, and what the rest
of command.sh took (make, trtexec, polygraphy's own processes: outside Python's profile or in separate processes).
"""
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from examples import log_name  # noqa: E402
from record_gpu_run import command_seconds  # noqa: E402


def read_profiles(log_dir):
    """{log name: [process records]} from LOGDIR/<log name>.profile.jsonl."""
    profiles = {}
    for path in sorted(Path(log_dir).glob("*.profile.jsonl")):
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a process killed while writing: its line is cut
                continue
        profiles[path.name[:-len(".profile.jsonl")]] = records
    return profiles


def read_command_times(junit):
    """{log name: seconds its command.sh ran} from a JUnit file of the GPU suite."""
    times = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        m = re.match(r"test_example_on_gpu\[(.*)\]$", case.get("name") or "")
        if not m or case.find("skipped") is not None:
            continue
        times[log_name(m.group(1))] = command_seconds(case)
    return times


def summarize(records):
    """(processes, seconds in Python, builds, seconds building, (slowest script, seconds) or None)."""
    python_s = sum(r.get("seconds") or 0.0 for r in records)
    builds = [b for r in records for b in r.get("builds", [])]
    scripts = [(s[0], s[2]) for r in records for s in r.get("scripts", [])]
    scripts += [(Path(r["argv"][1]).name, r.get("seconds") or 0.0) for r in records
                if not r.get("scripts") and len(r.get("argv", [])) > 1 and r["argv"][1].endswith(".py")]
    slowest = max(scripts, key=lambda s: s[1]) if scripts else None
    return len(records), python_s, len(builds), sum(b[2] for b in builds), slowest


def report(log_dir, *junits):
    profiles = read_profiles(log_dir)
    times = {}
    for junit in junits:  # gpu_background.sh writes two: the examples beside each other, then those run alone
        times.update(read_command_times(junit))
    rows = []
    for name in sorted(set(profiles) | set(times)):
        processes, python_s, builds, build_s, slowest = summarize(profiles.get(name, []))
        rows.append((name, times.get(name), processes, python_s, builds, build_s, slowest))
    rows.sort(key=lambda r: -(r[1] if r[1] is not None else r[3]))
    lines = ["| example | command.sh s | python processes | in Python s | builds | building s | slowest script |",
             "|---|---|---|---|---|---|---|"]
    for name, command_s, processes, python_s, builds, build_s, slowest in rows:
        lines.append(f"| {name} | {'-' if command_s is None else f'{command_s:.1f}'} | {processes} | {python_s:.1f} | "
                     f"{builds} | {build_s:.1f} | {f'{slowest[0]} {slowest[1]:.1f} s' if slowest else '-'} |")
    total_command = sum(r[1] for r in rows if r[1] is not None)
    total_python = sum(r[3] for r in rows)
    total_build = sum(r[5] for r in rows)
    lines.append(f"\n{len(rows)} examples: command.sh {total_command:.0f} s in all, Python processes {total_python:.0f} s, "
                 f"engine builds {total_build:.0f} s ({sum(r[4] for r in rows)} builds)")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(report(*sys.argv[1:]))
