"""CPU tests: the run block (and each folder's numpy helpers) are byte-identical copies, and the lesson comes first.

Readers copy these blocks into their own projects, so a copy that drifted is a bug they would inherit.
`python3 tests/sync_blocks.py --write` rewrites every copy from its canonical one.
"""
import ast
import os
import re
import shutil
import statistics
import subprocess

import pytest

from examples import ROOT, reference_scripts, find_examples
from sync_blocks import (CANONICAL_RUN_BLOCK, CANONICAL_RUNNER, RUN_MARKER, RUNNER_MARKER, drifted,
                         example_commands, split_command, split_script)

# Reference scripts whose topic is running an engine (or building one step by step) keep that code inline,
# written out where the reader reads it; every other reference script ends with the run block.
INLINE = {
    "08-Advance/SharedDeviceMemory/main.py": "contexts without device memory sharing one buffer, memory measured",
    "05-Plugin/CallSequence/main.py": "a plugin's calls phase by phase (build, deserialize, context, set shape, "
                                      "execute, serialize, destroy), which build_engine/run_engine merge",
    "05-Plugin/WeightsAndAttributes/main.py": "the plan reloaded and run in fresh processes, with and without the "
                                              "plugin library",
    "05-Plugin/ONNXParserPlugin/main.py": "plugin vs primitive ops vs INormalizationLayer timed side by side with "
                                          "CUDA events",
    "08-Advance/BestPractice/ReduceAxes/main.py": "before/after variants timed side by side with CUDA events",
    "08-Advance/BestPractice/AlignSizes/main.py": "before/after variants timed side by side with CUDA events",
    "08-Advance/BestPractice/ComputeConstantsInAdvance/main.py": "before/after variants timed side by side with CUDA "
                                                                 "events",
    "08-Advance/BestPractice/TransposeMatmulToConv/main.py": "before/after variants timed side by side with CUDA events",
    "08-Advance/BestPractice/EliminateShuffles/main.py": "before/after variants timed side by side with CUDA events",
    "08-Advance/BestPractice/IncreaseBatchSize/main.py": "one context timed per batch size with CUDA events",
    "08-Advance/BestPractice/OnnxWorkflow/main.py": "two engines timed with CUDA events, then profiled with an "
                                                    "IProfiler on the context",
    "08-Advance/Performance/benchmark.py": "torch and TensorRT contenders timed side by side (loop, CUDA graph), "
                                           "each checked against torch FP32",
    "08-Advance/MultipleOptimizationProfiles/main.py": "one context per profile, timed per shape with CUDA events",
    "08-Advance/MultipleStreams/main.py": "pinned memory, two streams and contexts, copies overlapped and timed",
    "08-Advance/MultipleContexts/main.py": "several threads, each with its own context and stream, timed",
    "08-Advance/CudaGraph/main.py": "execute_async_v3 captured into a CUDA graph and replayed, timed",
    "08-Advance/Refit/main.py": "refit from ONNX initializers between runs in new contexts; refit vs rebuild timed",
    "08-Advance/HardwareCompatibility/main.py": "two plans built, run and timed with CUDA events",
    "08-Advance/VersionCompatibility/main.py": "plans deserialized by different runtimes (host code, lean runtime), timed",
    "08-Advance/DataFormat/main.py": "vectorized I/O buffers (HWC8, CHW32) packed and unpacked around the run",
    "08-Advance/Sparsity/main.py": "dense vs sparse engines run and timed with CUDA events, inspector per context",
    "01-SimpleDemo/TensorRT8.6/main.py": "the whole workflow, written out once",
    "02-API/GPUAllocator/main.py": "where TensorRT's GPU memory comes from: the allocator is set on the builder and "
                                   "runtime that the run block would create",
    "02-API/GPUAllocator/OutputAllocator.py": "the IOutputAllocator calls during execute_async_v3, step by step",
    "02-API/ExecutionContext/main.py": "the context's members around one inference: set_input_shape, tensor "
                                       "addresses, execute_async_v3 and execute_v2",
    "02-API/ExecutionContext/Profiler.py": "profiler reports during execute_async_v3 and via report_to_profiler",
    "02-API/ExecutionContext/OptimizationProfileSwitch.py": "one context switching optimization profiles between runs",
    "02-API/ExecutionContext/DeviceMemory.py": "a context without device memory, given the application's buffer",
    "06-UseFrameworkTRT/TorchTensorRT/main.py": "Torch-TensorRT builds and runs the engine inside PyTorch; the "
                                                "script uses no TensorRT Python API",
    "02-API/AuxStream/main.py": "the streams and the input-consumed event of one inference, which run_engine hides",
}

SCRIPTS = [ROOT / e / f"{stem}.py" for e in find_examples() for stem in reference_scripts(ROOT / e)]
BLOCK_NAMES = {n.name for n in ast.parse(CANONICAL_RUN_BLOCK.read_text(encoding="utf-8")).body
               if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
TOPIC_LINES_MEDIAN = 70


def rel(path):
    return path.relative_to(ROOT).as_posix()


def test_canonical_block_starts_with_the_marker():
    assert CANONICAL_RUN_BLOCK.read_text(encoding="utf-8").startswith(RUN_MARKER)


def test_every_copy_is_identical():
    found = drifted()
    assert not found, ("copies differ from their canonical block (run `python3 tests/sync_blocks.py --write`):\n"
                       + "\n".join(f"{rel(script)}: {what}" for script, what in found))


@pytest.mark.parametrize("script", SCRIPTS, ids=[rel(s) for s in SCRIPTS])
def test_script_uses_the_run_block(script):
    text = script.read_text(encoding="utf-8")
    if rel(script) in INLINE:
        assert RUN_MARKER not in text, f"{rel(script)} is listed in INLINE but has the run block"
        return
    assert RUN_MARKER in text, (f"{rel(script)} has no run block: end it with tests/run_block.py (or, when running "
                                "the engine is its lesson, list it in INLINE in tests/test_run_block.py)")
    topic = split_script(text)[0]
    defined = {n.name for n in ast.parse(topic).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    again = sorted(defined & BLOCK_NAMES)
    assert not again, f"{rel(script)} defines {again} above the run block, which defines them too"
    assert "build_network" in defined or "run_example" in defined, \
        f"{rel(script)} defines neither build_network(builder, network, config, inputs) nor run_example(inputs)"


def test_inline_list_names_existing_scripts():
    missing = sorted(path for path in INLINE if not (ROOT / path).is_file())
    assert not missing, f"INLINE names scripts that do not exist: {missing}"


def test_the_lesson_comes_first():
    """The part above the blocks (docstring, imports, constants, network, inputs, reference) stays short."""
    lengths = sorted(len(split_script(s.read_text(encoding="utf-8"))[0].splitlines())
                     for s in SCRIPTS if rel(s) not in INLINE)
    assert statistics.median(lengths) <= TOPIC_LINES_MEDIAN, \
        f"median length of the part above the blocks is {statistics.median(lengths)} lines (target {TOPIC_LINES_MEDIAN})"


COMMANDS_WITH_RUNNER = [c for c in example_commands() if RUNNER_MARKER in c.read_text(encoding="utf-8")]


def run_runner(tmp_path, scripts, files):
    """Run the canonical script runner in tmp_path on `scripts`, with `files` {name: text} written there."""
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    command = tmp_path / "command.sh"
    command.write_text("#!/bin/bash\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n"
                       f"scripts=({' '.join(scripts)})\n" + CANONICAL_RUNNER.read_text(encoding="utf-8"),
                       encoding="utf-8")
    return subprocess.run(["bash", str(command)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))


SHOW = """import os, sys
print(f"{os.path.basename(__file__)} pid={os.getpid()} name={__name__} argv={sys.argv}")
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_script_runner_runs_each_script_as_main_in_one_process(tmp_path):
    result = run_runner(tmp_path, ["a.py", "b.py", "c.py"], {
        "a.py": SHOW + "sys.exit(0)\n",          # the run block's ending when the checks passed
        "b.py": SHOW,                              # a script that just ends
        "c.py": SHOW + "if __name__ == '__main__':\n    sys.exit(0 if True else 1)\n"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0::2] == ["=== a.py", "=== b.py", "=== c.py"], lines
    shown = [re.match(r"(\S+) pid=(\d+) name=(\S+) argv=(.*)", line).groups() for line in lines[1::2]]
    assert [s[0] for s in shown] == ["a.py", "b.py", "c.py"]
    assert len({s[1] for s in shown}) == 1, "the scripts ran in more than one process"
    assert {s[2] for s in shown} == {"__main__"}
    assert [s[3] for s in shown] == ["['a.py']", "['b.py']", "['c.py']"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("ending", ["sys.exit(1)", "raise RuntimeError('refused')"])
def test_script_runner_stops_at_the_first_failing_script(tmp_path, ending):
    result = run_runner(tmp_path, ["a.py", "bad.py", "never.py"],
                        {"a.py": SHOW, "bad.py": SHOW + ending + "\n", "never.py": SHOW})
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "=== bad.py" in result.stdout and "never.py" not in result.stdout


@pytest.mark.parametrize("command", COMMANDS_WITH_RUNNER, ids=[rel(c.parent) for c in COMMANDS_WITH_RUNNER])
def test_script_runner_names_existing_scripts(command):
    before, runner, after = split_command(command.read_text(encoding="utf-8"))
    found = re.findall(r"^scripts=\(([^)]*)\)\n\Z", before, flags=re.M)
    assert found, f"{rel(command)}: the script runner must follow the line(s) scripts=(A.py B.py ...)"
    names = found[0].split()
    assert len(names) >= 2, f"{rel(command)}: for one script, run it with python3 X.py"
    missing = [n for n in names if not (command.parent / n).is_file()]
    assert not missing, f"{rel(command)} names scripts that do not exist: {missing}"


EXAMPLE_FOLDERS = find_examples()


@pytest.mark.parametrize("example", EXAMPLE_FOLDERS, ids=[e.as_posix() for e in EXAMPLE_FOLDERS])
def test_command_runs_every_reference_script(example):
    """A script with a reference that command.sh never runs would never be checked on the GPU."""
    text = (ROOT / example / "command.sh").read_text(encoding="utf-8")
    missing = sorted(f"{stem}.py" for stem in reference_scripts(ROOT / example)
                     if not re.search(rf"(^|[\s(/]){re.escape(stem)}\.py\b", text))
    assert not missing, f"{example}/command.sh does not run {missing}"


@pytest.mark.parametrize("example", EXAMPLE_FOLDERS, ids=[e.as_posix() for e in EXAMPLE_FOLDERS])
def test_reference_scripts_run_in_one_process(example):
    """Two reference scripts started as two `python3` processes (or by a shell loop) pay TensorRT 8.6.0's first
    trt.Builder twice, about 10 s of CPU each: a command.sh that runs several goes through the script runner.
    (A data step such as `python3 digits.py` or `python3 get_model.py`, having no reference, may run alone.)"""
    before, runner, after = split_command((ROOT / example / "command.sh").read_text(encoding="utf-8"))
    outside = before + after
    stems = reference_scripts(ROOT / example)
    alone = sorted({name for name in re.findall(r"\bpython3\s+([\w.-]+)\.py\b", outside) if name in stems})
    loop = re.search(r"^\s*for\s+\w+\s+in\s[^;\n]*\.py", outside, flags=re.M)
    assert not loop, f"{example}/command.sh loops over Python scripts: list them in scripts=(...) for the runner"
    assert len(alone) < 2, f"{example}/command.sh starts {alone} as separate processes: use the script runner"
