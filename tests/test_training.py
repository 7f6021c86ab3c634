"""CPU tests of 03-BuildEngineByTensorRTAPI/DigitsCNN's model: train.py still trains it, and the committed weights
are what main.py and main.cpp expect.

train.py is seeded, but torch does not promise bit-identical training on other CPUs or versions, so a fresh training
must reach the accuracy the README states (for the committed weights) minus MARGIN, not the same weights.
"""
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from examples import ROOT

FOLDER = ROOT / "03-BuildEngineByTensorRTAPI" / "DigitsCNN"
WEIGHTS = FOLDER / "digits_cnn.npz"
MARGIN = 0.015  # seeds other than train.py's reach 98.6 % to 99.4 % on the test set; 1.5 % below the stated value
SHAPES = {"conv1.weight": (16, 1, 5, 5), "conv1.bias": (16,), "conv2.weight": (32, 16, 5, 5), "conv2.bias": (32,),
          "fc1.weight": (64, 1568), "fc1.bias": (64,), "fc2.weight": (10, 64), "fc2.bias": (10,)}

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")


def stated_accuracy():
    """The accuracy README.md states for the committed weights: 'test accuracy of **99.17 %**'."""
    text = (FOLDER / "README.md").read_text(encoding="utf-8")
    m = re.search(r"test accuracy of\s+\*\*([\d.]+) %\*\*", text)
    assert m, "DigitsCNN/README.md must state the accuracy as 'test accuracy of **NN.NN %**'"
    return float(m.group(1)) / 100


def accuracy_of(weights_path):
    """The CNN's accuracy on digits.py's test set, computed here with torch functions from the .npz."""
    spec = importlib.util.spec_from_file_location("digitscnn_digits", FOLDER / "digits.py")
    digits = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(digits)
    images, labels = digits.load("test")
    with np.load(weights_path) as data:
        w = {name: torch.from_numpy(data[name]) for name in data.files}
    f, x = torch.nn.functional, torch.from_numpy(images)
    with torch.no_grad():
        for i in (1, 2):
            x = f.max_pool2d(torch.relu(f.conv2d(x, w[f"conv{i}.weight"], w[f"conv{i}.bias"], padding=2)), 2)
        x = torch.relu(f.linear(torch.flatten(x, 1), w["fc1.weight"], w["fc1.bias"]))
        logits = f.linear(x, w["fc2.weight"], w["fc2.bias"]).numpy()
    return float(np.mean(logits.argmax(axis=1) == labels))


def test_DigitsCNN_committed_weights_have_the_expected_arrays():
    assert WEIGHTS.is_file(), f"{WEIGHTS.relative_to(ROOT)} is missing: run python3 train.py in its folder"
    assert WEIGHTS.stat().st_size < 1 << 20, "digits_cnn.npz must stay under 1 MiB"
    with np.load(WEIGHTS, allow_pickle=False) as data:
        found = {name: (data[name].shape, data[name].dtype) for name in data.files}
    assert found == {name: (shape, np.dtype(np.float32)) for name, shape in SHAPES.items()}


def test_DigitsCNN_committed_weights_reach_the_stated_accuracy():
    accuracy, stated = accuracy_of(WEIGHTS), stated_accuracy()
    assert abs(accuracy - stated) < 0.5 / 360, \
        f"the committed weights reach {accuracy:.4f} on the test set, README.md states {stated:.4f}"


def test_DigitsCNN_train_reaches_the_stated_accuracy(tmp_path):
    output = tmp_path / "weights.npz"
    proc = subprocess.run([sys.executable, "train.py", "--output", str(output)], cwd=FOLDER, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert proc.returncode == 0, f"train.py failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    m = re.search(r"^test accuracy: ([\d.]+)", proc.stdout, re.M)
    assert m, f"train.py did not print 'test accuracy: ...':\n{proc.stdout[-3000:]}"
    with np.load(output, allow_pickle=False) as data:
        assert {name: data[name].shape for name in data.files} == SHAPES
        assert all(data[name].dtype == np.float32 for name in data.files)
    accuracy, stated = accuracy_of(output), stated_accuracy()
    assert abs(accuracy - float(m.group(1))) < 1e-3, "train.py printed another accuracy than its weights reach"
    assert accuracy >= stated - MARGIN, \
        f"train.py reached a test accuracy of {accuracy:.4f}, below the stated {stated:.4f} - {MARGIN}"


def test_QAT_qat_train_keeps_the_accuracy(tmp_path):
    """04-BuildEngineByONNXParser/QAT/qat_train.py still fine-tunes to a fake-quantized accuracy near the committed one."""
    folder = ROOT / "04-BuildEngineByONNXParser" / "QAT"
    output = tmp_path / "qat_weights.npz"
    proc = subprocess.run([sys.executable, "qat_train.py", "--output", str(output)], cwd=folder, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert proc.returncode == 0, f"qat_train.py failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    m = re.search(r"^test accuracy: ([\d.]+)", proc.stdout, re.M)
    assert m and float(m.group(1)) >= stated_accuracy() - MARGIN, f"qat_train.py:\n{proc.stdout[-3000:]}"
    with np.load(output, allow_pickle=False) as new, np.load(folder / "qat_weights.npz", allow_pickle=False) as old:
        assert {k: new[k].shape for k in new.files} == {k: old[k].shape for k in old.files}
