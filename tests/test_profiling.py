"""CPU tests of the GPU suite's profiler (tests/profiling/sitecustomize.py), its report (tests/profile_report.py),
tests/gpu_contention.sh and the header line on CUDA MPS (conftest.mps_note).

A fake `tensorrt` package stands in for TensorRT: the profiler must record the script runner's scripts and every
build, change nothing the scripts print or return, raise what they raise, and keep a sitecustomize it hides working.
"""
import json
import os
import subprocess

from examples import ROOT
from profile_report import report
from sync_blocks import CANONICAL_RUNNER

PROFILER = ROOT / "tests" / "profiling"
FAKE_TENSORRT = """import time
class Builder:
    def build_serialized_network(self, network, config):
        if network == "bad":
            raise RuntimeError("refused")
        time.sleep(0.05)
        return b"plan"
"""
SCRIPT = """import sys
import tensorrt
plan = tensorrt.Builder().build_serialized_network("net", None)
print("plan", plan)
sys.exit(0 if plan == b"plan" else 1)
"""


def run_command(tmp_path, body, profile_file=None, extra_path=()):
    (tmp_path / "fake" / "tensorrt").mkdir(parents=True, exist_ok=True)
    (tmp_path / "fake" / "tensorrt" / "__init__.py").write_text(FAKE_TENSORRT, encoding="utf-8")
    command = tmp_path / "command.sh"
    command.write_text("#!/bin/bash\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n" + body, encoding="utf-8")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([str(PROFILER), *map(str, extra_path), str(tmp_path / "fake")]))
    env.pop("COOKBOOK_PROFILE_FILE", None)
    if profile_file:
        env["COOKBOOK_PROFILE_FILE"] = str(profile_file)
    return subprocess.run(["bash", str(command)], capture_output=True, text=True, timeout=60, env=env)


def test_profiler_records_the_runners_scripts_and_builds(tmp_path):
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(SCRIPT, encoding="utf-8")
    profile = tmp_path / "x.profile.jsonl"
    runner = "scripts=(a.py b.py)\n" + CANONICAL_RUNNER.read_text(encoding="utf-8")
    result = run_command(tmp_path, runner + "python3 a.py\n", profile)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "=== a.py\nplan b'plan'\n=== b.py\nplan b'plan'\nplan b'plan'\n"
    records = [json.loads(line) for line in profile.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 2  # the runner's process and the lone python3 a.py
    runner_record, alone = records
    assert [s[0] for s in runner_record["scripts"]] == ["a.py", "b.py"]
    assert [b[0] for b in runner_record["builds"]] == ["build_serialized_network"] * 2
    assert all(b[2] >= 0.04 for b in runner_record["builds"])
    assert runner_record["seconds"] >= sum(s[2] for s in runner_record["scripts"])
    assert alone["argv"][1:] == ["a.py"] and len(alone["builds"]) == 1 and alone["scripts"] == []


def test_profiler_off_without_its_variable_and_errors_pass_through(tmp_path):
    (tmp_path / "bad.py").write_text("import tensorrt\ntensorrt.Builder().build_serialized_network('bad', None)\n",
                                     encoding="utf-8")
    (tmp_path / "a.py").write_text(SCRIPT, encoding="utf-8")
    result = run_command(tmp_path, "python3 a.py\n")  # no COOKBOOK_PROFILE_FILE: nothing recorded, same output
    assert result.returncode == 0 and result.stdout == "plan b'plan'\n", result.stderr
    assert not list(tmp_path.glob("*.jsonl"))
    result = run_command(tmp_path, "python3 a.py\n", tmp_path / "missing" / "x.profile.jsonl")  # cannot be written
    assert result.returncode == 0 and result.stdout == "plan b'plan'\n" and result.stderr == "", result.stderr
    profile = tmp_path / "x.profile.jsonl"
    result = run_command(tmp_path, "python3 bad.py\n", profile)
    assert result.returncode == 1 and "RuntimeError: refused" in result.stderr
    record = json.loads(profile.read_text(encoding="utf-8"))
    assert len(record["builds"]) == 1  # the failed build is recorded too


def test_profiler_runs_the_sitecustomize_it_hides(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import builtins\nbuiltins.COOKBOOK_OTHER_SITE = 1\n", encoding="utf-8")
    (tmp_path / "a.py").write_text("import builtins\nprint(getattr(builtins, 'COOKBOOK_OTHER_SITE', 0))\n",
                                   encoding="utf-8")
    result = run_command(tmp_path, "python3 a.py\n", tmp_path / "x.profile.jsonl", extra_path=[other])
    assert result.returncode == 0 and result.stdout == "1\n", result.stderr


def test_profile_report_sums_per_example(tmp_path):
    process = {"argv": ["python3", "-", "a.py", "b.py"], "seconds": 30.0,
               "scripts": [["a.py", 0.1, 12.0], ["b.py", 12.1, 17.0]],
               "builds": [["build_serialized_network", 1.0, 5.0], ["build_serialized_network", 13.0, 9.0]]}
    lone = {"argv": ["python3", "c.py"], "seconds": 4.0, "scripts": [], "builds": []}
    (tmp_path / "02-API_X.profile.jsonl").write_text(json.dumps(process) + "\n" + json.dumps(lone) + "\n{cut",
                                                     encoding="utf-8")
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite><testcase name="test_example_on_gpu[02-API/X]" time="50.0">'
                     '<properties><property name="lock_wait_s" value="5.0"/></properties></testcase>'
                     '</testsuite></testsuites>', encoding="utf-8")
    text = report(tmp_path, junit)
    assert "| 02-API_X | 45.0 | 2 | 34.0 | 2 | 14.0 | b.py 17.0 s |" in text, text
    assert "engine builds 14 s (2 builds)" in text


def test_contention_script_reports_each_batch(tmp_path):
    """tests/gpu_contention.sh: one line per batch with its copies, builds (from the profiler) and failed copies."""
    example = tmp_path / "example"
    example.mkdir()
    (example / "a.py").write_text(SCRIPT, encoding="utf-8")
    (example / "command.sh").write_text("cd \"$(dirname \"$0\")\"\npython3 a.py\npython3 a.py\n"
                                        "[ ! -f fail ]\n", encoding="utf-8")
    (tmp_path / "fake" / "tensorrt").mkdir(parents=True)
    (tmp_path / "fake" / "tensorrt" / "__init__.py").write_text(FAKE_TENSORRT, encoding="utf-8")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(tmp_path / "fake"),
               CONTENTION_DIR=str(tmp_path / "work"))
    command = ["bash", str(ROOT / "tests" / "gpu_contention.sh"), str(example), "1", "3"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split()[:2] == ["copies", "mps"]
    rows = [line.split() for line in lines]
    assert [(r[0], r[1], r[-3], r[-1]) for r in rows] == [("1", "no", "2", "0"), ("3", "no", "2", "0")]
    (example / "fail").write_text("", encoding="utf-8")  # every copy now ends with exit code 1
    result = subprocess.run(command[:-1], capture_output=True, text=True, timeout=120, env=env)
    assert result.stdout.splitlines()[1].split()[-1] == "1"


def test_mps_note_says_whether_a_daemon_is_there(tmp_path):
    from conftest import mps_note
    assert mps_note({}, which=lambda name: None) is None  # no NVIDIA driver: no line
    found = lambda name: "/usr/bin/" + name  # noqa: E731
    assert "no CUDA MPS control daemon" in mps_note({"CUDA_MPS_PIPE_DIRECTORY": str(tmp_path)}, which=found)
    (tmp_path / "control").write_text("", encoding="utf-8")
    assert "daemon found" in mps_note({"CUDA_MPS_PIPE_DIRECTORY": str(tmp_path)}, which=found)


class _Worker:
    """What pytest-xdist's LoadScheduling needs of a worker: it records the tests it is sent."""
    def __init__(self, n):
        self.gateway = type("Gateway", (), {"id": f"gw{n}"})()
        self.shutting_down, self.sent = False, []

    def send_runtest_some(self, indices):
        self.sent.extend(indices)

    def shutdown(self):
        self.shutting_down = True


def first_chunks(order, workers):
    """The tests each worker holds right after pytest-xdist's own LoadScheduling made its first distribution."""
    from xdist.scheduler import LoadScheduling
    config = type("Config", (), {"getvalue": lambda self, name: [f"{workers}*popen"],
                                 "getoption": lambda self, name: None})()
    scheduler = LoadScheduling(config)
    nodes = [_Worker(n) for n in range(workers)]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, order)
    scheduler.schedule()
    return [[order[i] for i in node.sent] for node in nodes]


def test_longest_examples_start_on_different_workers():
    """The shared phase (`-n 16`): each of the 16 longest examples (tests/gpu_durations.txt) must open a different
    worker's first chunk, so that no long example waits for another; longest first alone fails this (the control)."""
    from conftest import deal_first_chunks, read_durations
    from examples import command_header
    durations = {e: s for e, s in read_durations().items() if not command_header(ROOT / e).alone}
    longest = sorted(durations, key=durations.get, reverse=True)
    workers = 16
    assert len(longest) >= 2 * workers

    def longest_waiting(order):  # the longest example that is not the first test of its worker's chunk
        return max((t for chunk in first_chunks(order, workers) for t in chunk[1:]), key=durations.get)

    assert longest_waiting(longest) in longest[:workers]  # control: plain longest-first pairs long examples
    dealt = deal_first_chunks(longest, len(longest), workers)
    assert sorted(dealt) == sorted(longest)
    chunks = first_chunks(dealt, workers)
    assert sorted(chunk[0] for chunk in chunks) == sorted(longest[:workers])
    assert longest_waiting(dealt) not in longest[:workers]
    # the snake: the worker with the longest first test gets the shortest second one of the dealt rounds
    assert chunks[0][0] == longest[0] and chunks[0][1] == longest[2 * workers - 1]
    # few tests: round-robin, one at a time, already spreads them; the order is kept
    assert deal_first_chunks(longest[:20], 20, workers) == longest[:20]
