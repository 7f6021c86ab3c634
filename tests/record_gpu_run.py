#!/usr/bin/env python3
"""After a full GPU run: `python3 tests/record_gpu_run.py junit.xml [more.xml ...]`.

Reads the JUnit XML files that `python3 -m pytest --junitxml=...` wrote on the GPU machine, prints the counts for
tests/GPU_RUNS.md and rewrites tests/gpu_verified.txt with the examples whose GPU test passed there.
"""
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalogue import VERIFIED  # noqa: E402  (the file the catalogue reads)


def main(paths):
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    passed_examples = set()
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            outcome = "passed"
            if case.find("failure") is not None or case.find("error") is not None:
                outcome = "failed"
            elif case.find("skipped") is not None:
                outcome = "skipped"
            counts[outcome] += 1
            m = re.match(r"test_example_on_gpu\[(.*)\]$", case.get("name", ""))
            if m and outcome == "passed":
                passed_examples.add(m.group(1))
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    header = "# Examples that passed their GPU test in the last full run recorded in tests/GPU_RUNS.md (one folder per line).\n"
    VERIFIED.write_text(header + "".join(f"{e}\n" for e in sorted(passed_examples)), encoding="utf-8")
    print(f"{len(passed_examples)} examples verified on the GPU -> {VERIFIED}")


if __name__ == "__main__":
    main(sys.argv[1:])
