#!/usr/bin/env python3
"""Where the GPU suite's time goes: `python3 tests/suite_time.py [--workers 16]`.

Reads tests/gpu_durations.txt (each example's GPU test time in its last recorded run, written by record_gpu_run.py)
and prints the examples by time, the total, and the wall time of a run on N workers that start the longest examples
first (what conftest.py does): the greedy longest-first schedule, then the examples that run alone (`# alone: yes`)
one after the other. pytest-xdist only approaches it: each worker is handed its next test in advance (the first ones
in chunks of two), so a test can wait behind another on a busy worker. With plain longest first that cost the run of
2026-12-03 about 150 s (457 s for a phase this schedule puts at about 305 s); conftest.py now deals the first chunks
(deal_first_chunks) so that the longest examples start on different workers. Examples never timed are
listed apart. The recorded times were measured beside other examples
(up to 16 at once on 16 CPU cores; since 2026-12-03 under CUDA MPS, as tests/gpu_background.sh runs them), so they
include the waiting for CPU and GPU that parallel builds cause.
"""
import argparse
import heapq
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import read_durations  # noqa: E402
from examples import ROOT, command_header, find_examples  # noqa: E402


def makespan(times, workers):
    """Wall time when `workers` take the jobs in the given order, each the next job as soon as it is free."""
    free = [0.0] * workers
    for t in times:
        heapq.heappush(free, heapq.heappop(free) + t)
    return max(free) if times else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--top", type=int, default=20, help="how many of the longest examples to list")
    args = parser.parse_args()
    durations = read_durations()
    examples = [e.as_posix() for e in find_examples()]
    timed = sorted(((durations[e], e) for e in examples if e in durations), reverse=True)
    untimed = [e for e in examples if e not in durations]
    for seconds, example in timed[:args.top]:
        print(f"{seconds:8.1f} s  {example}")
    runs_alone = {e for _, e in timed if command_header(ROOT / e).alone}
    times = [s for s, e in timed if e not in runs_alone]
    alone = [s for s, e in timed if e in runs_alone]
    print(f"{len(timed)} examples timed: {sum(times) + sum(alone):.0f} s in all; on {args.workers} workers, longest "
          f"first: {makespan(times, args.workers):.0f} s, then {len(alone)} alone: {sum(alone):.0f} s; wall time "
          f"{makespan(times, args.workers) + sum(alone):.0f} s")
    if untimed:
        print(f"{len(untimed)} examples never timed (run them on the GPU and record the run): "
              + ", ".join(untimed[:10]) + (" ..." if len(untimed) > 10 else ""))
        # a projection, not a measurement: each untimed example counted at the median of the timed ones of its chapter
        guessed = []
        for example in untimed:
            chapter = [s for s, e in timed if e.split("/")[0] == example.split("/")[0] and e not in runs_alone]
            guessed.append(statistics.median(chapter) if chapter else statistics.median(times or [0.0]))
        projected = sorted(times + guessed, reverse=True)
        print(f"projection with each untimed example at the median time of its chapter's timed ones: "
              f"{makespan(projected, args.workers):.0f} s on {args.workers} workers + {sum(alone):.0f} s alone = "
              f"{makespan(projected, args.workers) + sum(alone):.0f} s")


if __name__ == "__main__":
    main()
