"""CPU checks of the 07-Tool/Polygraphy-CLI commands that need no TensorRT: the same `polygraphy` command lines as the
examples' command.sh (inspect model on ONNX, surgeon sanitize / extract / insert, run --onnxrt, data merge,
template onnx-gs), on the same models (each example's get_model.py), in a temporary copy; their results are checked
with onnxruntime and numpy. The TensorRT halves of those examples run in the GPU tests.
"""
import shutil
import subprocess
import sys

import numpy as np
import pytest

from examples import ROOT

POLYGRAPHY = shutil.which("polygraphy")
pytestmark = pytest.mark.skipif(POLYGRAPHY is None, reason="needs the polygraphy command (pip install polygraphy)")
CLI = ROOT / "07-Tool" / "Polygraphy-CLI"


def example_copy(tmp_path, name):
    folder = tmp_path / name
    shutil.copytree(CLI / name, folder, ignore=shutil.ignore_patterns("*.onnx", "*.json", "result-*.log", "__pycache__"))
    return folder


def run(folder, *command):
    """Run a command in the folder (a python script or a polygraphy command line); return its output."""
    argv = [sys.executable, *command] if command[0].endswith(".py") else [POLYGRAPHY, *command]
    proc = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(command)} exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def onnxruntime_outputs(path, feeds):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def test_inspect_model_onnx(tmp_path):
    pytest.importorskip("torch")
    folder = example_copy(tmp_path, "Inspect")
    run(folder, "get_model.py")
    log = run(folder, "inspect", "model", "model.onnx", "--show", "layers", "attrs", "weights")
    assert "==== ONNX Model ====" in log and "---- 8 Node(s) ----" in log, log
    assert "Initializer | body.0.weight" in log, log


def test_surgeon_sanitize_extract_insert(tmp_path):
    folder = example_copy(tmp_path, "Surgeon")
    run(folder, "get_model.py")
    sys.path.insert(0, str(folder))
    try:
        import get_model  # W and C of the model, for the numpy reference
    finally:
        sys.path.pop(0)
    run(folder, "surgeon", "sanitize", "model.onnx", "--fold-constants", "-o", "model-folded.onnx")
    run(folder, "surgeon", "extract", "model.onnx", "--inputs", "hidden:auto:auto", "--outputs", "relu_out:auto",
        "-o", "model-relu.onnx")
    run(folder, "surgeon", "insert", "model.onnx", "--inputs", "hidden", "--outputs", "relu_out", "--op", "LeakyRelu",
        "--name", "LeakyRelu", "--attrs", "alpha=0.125", "-o", "model-inserted.onnx")
    import onnx

    nodes_before = onnx.load(str(folder / "model.onnx")).graph.node
    nodes_folded = onnx.load(str(folder / "model-folded.onnx")).graph.node
    before, folded = {n.op_type for n in nodes_before}, {n.op_type for n in nodes_folded}
    assert len(nodes_folded) < len(nodes_before)
    assert "Shape" in before and folded <= before, (before, folded)

    x = np.random.default_rng(5).standard_normal((3, 4, 4)).astype(np.float32)
    hidden = x.reshape(3, 16) @ (get_model.W * 2 + 1)
    y = np.maximum(hidden, 0) + get_model.C
    np.testing.assert_allclose(onnxruntime_outputs(folder / "model-folded.onnx", {"x": x})["y"], y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(onnxruntime_outputs(folder / "model-relu.onnx", {"hidden": hidden.astype(np.float32)})
                               ["relu_out"], np.maximum(hidden, 0), rtol=1e-6, atol=1e-6)
    inserted = onnxruntime_outputs(folder / "model-inserted.onnx", {"x": x})["y"]
    np.testing.assert_allclose(inserted, np.where(hidden > 0, hidden, 0.125 * hidden) + get_model.C, rtol=1e-5,
                               atol=1e-5)


def test_run_onnxrt_extract_and_merge(tmp_path):
    pytest.importorskip("torch")
    folder = example_copy(tmp_path, "Data")
    run(folder, "get_model.py")
    log = run(folder, "run", "model.onnx", "--onnxrt", "--onnx-outputs", "mark", "all", "--load-inputs", "x.json",
              "--save-outputs", "outputs.json")
    assert "PASSED" in log, log
    pooled = "/body/body.5/MaxPool_output_0"  # as in command.sh
    run(folder, "surgeon", "extract", "model.onnx", "--inputs", f"{pooled}:[4,16,7,7]:float32", "--outputs", "y:auto",
        "-o", "tail.onnx")
    run(folder, "data", "merge", "x.json", "outputs.json", "-o", "tail-inputs.json")
    from polygraphy.comparator import RunResults
    from polygraphy.json import load_json

    merged = load_json(str(folder / "tail-inputs.json"))[0]  # one feed dict per iteration
    saved = list(RunResults.load(str(folder / "outputs.json")).values())[0][0]  # onnxruntime's only iteration
    assert pooled in merged and "x" in merged, sorted(merged)
    tail = onnxruntime_outputs(folder / "tail.onnx", {pooled: merged[pooled]})["y"]
    np.testing.assert_allclose(tail, saved["y"], rtol=1e-5, atol=1e-5)  # the tail of the model, from the saved tensor


def test_template_onnx_gs(tmp_path):
    pytest.importorskip("torch")
    folder = example_copy(tmp_path, "Template")
    run(folder, "get_model.py")
    run(folder, "template", "onnx-gs", "model.onnx", "-o", "my_graph.py")
    text = (folder / "my_graph.py").read_text()
    assert "GsFromOnnx" in text and "model.onnx" in text, text[:800]
    run(folder, "my_graph.py")  # the template as generated loads the model and saves it again, unchanged
    x = np.random.default_rng(6).standard_normal((4, 1, 28, 28)).astype(np.float32)
    for before, after in zip(onnxruntime_outputs(folder / "model.onnx", {"x": x}).values(),
                             onnxruntime_outputs(folder / "model_updated.onnx", {"x": x}).values()):
        np.testing.assert_array_equal(before, after)
