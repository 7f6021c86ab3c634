#!/usr/bin/env python3
"""After a full GPU run: `python3 tests/record_gpu_run.py junit.xml [more.xml ...]`.

Reads the JUnit XML files that `python3 -m pytest --junitxml=...` wrote on the GPU machine, prints the counts for
tests/GPU_RUNS.md and records in tests/gpu_verified.txt, for each example whose GPU test passed there, the
fingerprint of its files. Run it on the tree that ran on the GPU (commit first, record right after the run).
Examples that did not pass in this run keep their earlier entry (the catalogue still compares its fingerprint);
an example that failed loses it. An example stopped by COOKBOOK_TIMEOUT_CAP before its own `# timeout:` did not
fail: it did not finish, keeps its entry, and its duration is recorded as at least the cap. It also records how long
each example's GPU test took (tests/gpu_durations.txt): the suite starts the longest examples first, so that 16
workers finish together (see conftest.py).
"""
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalogue import read_verified, write_verified  # noqa: E402
from conftest import read_durations, write_durations  # noqa: E402
from examples import command_header, fingerprint, find_examples, ROOT  # noqa: E402


def cut_by_cap(example, failure):
    """True when the failure is the harness's "ran past N s" with N below the example's own `# timeout:`:
    COOKBOOK_TIMEOUT_CAP stopped it (the run had to end in time), which says nothing about the example."""
    m = re.match(r"AssertionError: command\.sh ran past (\d+) s", failure.get("message", "") or "")
    return bool(m) and int(m.group(1)) < command_header(ROOT / example).timeout


def command_seconds(case):
    """The time an example's command.sh ran, from its JUnit test case: without the wait for its turn on the GPU."""
    waited = sum(float(p.get("value", 0.0)) for p in case.iter("property") if p.get("name") == "lock_wait_s")
    return max(float(case.get("time", 0.0)) - waited, 0.0)


def main(paths):
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    passed_examples, failed_examples = set(), set()
    durations = read_durations()
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            if case.get("name") is None:  # pytest-xdist writes nameless entries when a run is interrupted: no test
                continue
            failure = case.find("failure")
            outcome = "passed"
            if failure is not None or case.find("error") is not None:
                outcome = "failed"
            elif case.find("skipped") is not None:
                outcome = "skipped"
            m = re.match(r"test_example_on_gpu\[(.*)\]$", case.get("name"))
            if m and failure is not None and cut_by_cap(m.group(1), failure):
                outcome = "not finished"
            counts[outcome] = counts.get(outcome, 0) + 1
            if not m or outcome == "skipped":
                continue
            example = m.group(1)
            ran = command_seconds(case)
            if outcome == "not finished":  # a lower bound: keep a longer time recorded before
                durations[example] = max(durations.get(example, 0.0), ran)
            else:
                durations[example] = ran
                (passed_examples if outcome == "passed" else failed_examples).add(example)
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    known = {e.as_posix() for e in find_examples()}
    entries = {e: h for e, h in read_verified().items() if e in known and e not in failed_examples}
    entries.update({e: fingerprint(e) for e in passed_examples})
    write_verified(entries)
    write_durations({e: t for e, t in durations.items() if e in known})
    print(f"{len(passed_examples)} examples passed in this run, {len(failed_examples)} failed; "
          f"{len(entries)} of {len(known)} examples recorded as verified")


if __name__ == "__main__":
    main(sys.argv[1:])
