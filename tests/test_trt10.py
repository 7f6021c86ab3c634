"""CPU tests of the TensorRT 10 check (tests/trt10_check.py) and its data (tests/trt10_api.txt).

- the data file states the stubs' version on its first line and every line follows the format of
  tests/make_trt10_api.py;
- every replacement the migration table names exists in TensorRT 10.13's API, and every row is about a name that
  10.13 removed or deprecates;
- the check runs on every example script and finds no TensorRT name unknown to both 8.6.0 and 10.13;
- on small synthetic scripts it reports what it should and nothing else;
- each example's README ends with the note that `python3 tests/trt10_check.py --write-notes` writes.
"""
import fnmatch
import re

import pytest

import trt10_check as check
from examples import ROOT, find_examples

API = check.load_api()
EXAMPLES = find_examples()


def test_api_file_states_the_stubs_version_and_follows_its_format():
    lines = check.API_FILE.read_text(encoding="utf-8").splitlines()
    assert re.match(r"# tensorrt-stubs (10\.\d+\.\d+\.\d+(\.\w+)?) \(TensorRT (10\.\d+\.\d+\.\d+)\): ", lines[0]), \
        lines[0]
    entry = r"(class [\w.]+(\([\w., ]+\))?|  [\w.]+\.\w+( -> [\w.]+)?|\w+|- [\w.]+)( ! .+)?"
    wrong = [line for line in lines[1:] if not re.fullmatch(entry, line)]
    assert not wrong, f"lines not in the format of tests/make_trt10_api.py: {wrong[:5]}"
    assert check.API_FILE.stat().st_size < 100_000, "tests/trt10_api.txt should stay small"
    # a few facts of TensorRT 10 that every later check relies on
    assert check.lookup(API, "IExecutionContext", "execute_async_v3")
    assert check.lookup(API, "IExecutionContext", "execute_async_v2") is None
    assert "IExecutionContext.execute_async_v2" in API["removed"]
    assert "Deprecated" in API["classes"]["IInt8EntropyCalibrator2"]["note"]
    assert check.lookup(API, "IConvolutionLayer", "get_output")[0] == "ILayer"   # found through the base class


def exists(name):
    if name in API["classes"] or name in API["module"]:
        return True
    owner, _, member = name.rpartition(".")
    return bool(owner) and check.lookup(API, owner, member) is not None


def changed_names():
    """Every 8.6 name TensorRT 10.13 removed, and every 10.13 name marked deprecated."""
    names = set(API["removed"])
    for cls, info in API["classes"].items():
        if info["note"]:
            names.add(cls)
        names.update(f"{cls}.{m}" for m, (_, note) in info["members"].items() if note)
    return names


@pytest.mark.parametrize("row", check.MIGRATIONS, ids=[r[0][:40] for r in check.MIGRATIONS])
def test_migration_row_is_verified_against_the_stubs(row):
    label, replacement, patterns, new_names, sentence = row
    missing = [n for n in new_names if not exists(n)]
    assert not missing, f"the replacement names {missing} are not in TensorRT 10.13's API"
    assert new_names, "a row names the TensorRT 10 API it recommends (checked here)"
    changed = changed_names()
    assert any(fnmatch.fnmatchcase(n, p) for n in changed for p in patterns), \
        f"no name matching {patterns} is removed or deprecated in 10.13: the row describes no change"


def test_hand_written_deprecations_name_real_api():
    for name in check.HAND_DEPRECATED:
        assert exists(name), name


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.as_posix() for e in EXAMPLES])
def test_check_runs_on_every_script(example):
    for script in sorted((ROOT / example).glob("*.py")):
        findings = check.check_file(script, API)
        unknown = [f for f in findings if f.status == "unknown"]
        assert not unknown, f"{script.relative_to(ROOT)}: names in neither TensorRT 8.6.0 nor 10.13: {unknown}"


SYNTHETIC = '''
import numpy as np
import tensorrt as trt


class Allocator(trt.IGpuAllocator):
    def free(self, memory):          # 8.6 callback, gone in 10
        return True

    def allocate_async(self, size, alignment, flags, stream):
        return 0


class Calibrator(trt.IInt8EntropyCalibrator2):
    pass


class Runner:                        # the script's own class: its members are not TensorRT's
    def free(self):
        pass


def build(logger):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.max_workspace_size = 1 << 30
    config.set_flag(trt.BuilderFlag.FP16)
    config.set_flag(trt.BuilderFlag.STRICT_TYPES)
    x = network.add_input("x", trt.float32, (1, 3, 8, 8))
    conv = network.add_convolution_nd(x, 4, (3, 3), trt.Weights(), trt.Weights())
    conv.stride = (2, 2)             # 2-D member, gone in 10
    conv.stride_nd = (2, 2)
    piece = network.add_slice(conv.get_output(0), (0, 0, 0, 0), (1, 1, 1, 1), (1, 1, 1, 1))
    piece.stride = (1, 1, 1, 1)      # ISliceLayer.stride is still there
    resize = network.add_resize(x)
    resize.resize_mode = trt.ResizeMode.LINEAR
    fc = network.add_fully_connected(x, 4, trt.Weights(), trt.Weights())
    Runner().free()
    return builder.build_engine(network, config)


def run(engine, buffers):
    context = engine.create_execution_context()
    shape = context.get_binding_shape(0)
    context.execute_async_v2(buffers, 0)
    return shape, np.zeros(3).shape
'''


def findings_by_name(source):
    return {(f.used, f.status) for f in check.check_source(source, API)}


def test_synthetic_script_reports_what_changed():
    found = findings_by_name(SYNTHETIC)
    expected = {
        ("def free (IGpuAllocator)", "removed"),
        ("trt.IInt8EntropyCalibrator2", "deprecated"),
        ("trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH", "deprecated"),
        ("config.max_workspace_size", "removed"),
        ("trt.BuilderFlag.FP16", "deprecated"),
        ("trt.BuilderFlag.STRICT_TYPES", "removed"),
        ("conv.stride", "removed"),
        ("trt.ResizeMode.LINEAR", "removed"),
        ("network.add_fully_connected", "removed"),
        ("builder.build_engine", "removed"),
        ("context.get_binding_shape", "removed"),
        ("context.execute_async_v2", "removed"),
    }
    assert found == expected, f"missing: {expected - found}; unexpected: {found - expected}"


def test_each_synthetic_finding_has_a_migration_row():
    for f in check.check_source(SYNTHETIC, API):
        assert f.migration(), f


def test_scripts_that_only_use_the_shared_api_are_clean():
    source = '''
import tensorrt as trt

def build_network(builder, network, config, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    layer = network.add_activation(x, trt.ActivationType.RELU)
    layer.get_output(0).name = "outputT0"
    network.mark_output(layer.get_output(0))
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    logger = trt.Logger(trt.Logger.ERROR)
    print(trt.ILogger.Severity.WARNING, trt.TensorFormat.__members__.items())

def run(engine, context, stream):
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        context.set_tensor_address(name, 0)
    context.execute_async_v3(stream)
'''
    assert check.check_source(source, API) == []
    assert check.check_source("import numpy as np\nx = np.zeros(3)\nx.free()\n", API) == []   # no tensorrt


def test_guessed_parameter_types_do_not_invent_removals():
    # `context` of an algorithm selector is an IAlgorithmContext, not the IExecutionContext the name suggests
    source = '''
import tensorrt as trt

def select_algorithms(context, choices):
    return context.get_shape(0)
'''
    assert ("context.get_shape", "removed") not in findings_by_name(source)


def test_report_and_cli(tmp_path, capsys):
    script = tmp_path / "old.py"
    script.write_text(SYNTHETIC, encoding="utf-8")
    check.main([str(script)])
    out = capsys.readouterr().out
    assert "execute_async_v2" in out and "execute_async_v3" in out and "removed in TensorRT 10" in out


def test_with_note_appends_then_replaces():
    note = f"{check.START}\n## TensorRT 10\n\nold\n{check.END}"
    once = check.with_note("# Title\n\nText.\n", note)
    assert once == f"# Title\n\nText.\n\n{note}\n"
    newer = note.replace("old", "new")
    assert check.with_note(once, newer) == f"# Title\n\nText.\n\n{newer}\n"
    assert check.with_note(check.with_note(once, newer), newer) == check.with_note(once, newer)


def test_migration_table_links_existing_examples():
    table = check.migration_table(API)
    for link in re.findall(r"\]\(([^)]+)/\)", table):
        assert (ROOT / link).is_dir(), link


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.as_posix() for e in EXAMPLES])
def test_readme_has_the_current_trt10_note(example):
    expected = check.note_for(example, API)
    assert check.readme_note(example) == expected, (
        f"{example}/README.md: its TensorRT 10 note is missing or stale; run `python3 tests/trt10_check.py "
        f"--write-notes`")
    text = (ROOT / example / "README.md").read_text(encoding="utf-8")
    assert text.rstrip("\n").endswith(check.END), "the TensorRT 10 note is the README's last section"


def test_root_readme_has_the_current_migration_table():
    assert check.readme_table() == check.migration_table(), \
        "README.md's TensorRT 10 migration table is out of date: run `python3 tests/trt10_check.py --write-notes`"
