#!/usr/bin/env python3
"""06-UseFrameworkTRT/TorchTensorRT: TensorRT from inside PyTorch with Torch-TensorRT (torch_tensorrt.compile), in
FP32 and FP16, checked against torch on a real test set.

Written for the course's container nvcr.io/nvidia/pytorch:23.06-py3, which ships torch-tensorrt 1.x (the 1.4 / 1.5
API: torch_tensorrt.compile(module, ir="ts", inputs=[torch_tensorrt.Input(min_shape, opt_shape, max_shape, dtype)],
enabled_precisions={...})). Not run for this cookbook: no torch-tensorrt build exists for its GPU machine's
TensorRT 8.6.0 + torch 2.11 + Python 3.12 (command.sh declares `# requires: python:torch_tensorrt`, so the test skips).

The model is chapter 03's trained CNN (digits_cnn.npz, a copy of 03's file): the torch module is written here and
loads those weights. torch_tensorrt.compile() scripts it (TorchScript), converts its operators to a TensorRT network
with a dynamic batch of 1..64 images (opt 32) and returns a module that runs the TensorRT engine; it is called like
the original. Two compilations: FP32 (disable_tf32=True, so FP32 layers compute in FP32) and FP16
(enabled_precisions={torch.half}: TensorRT may pick FP16 kernels). Each runs the 360 test images in batches of up to
64; the script prints max |logit - torch logit| and the accuracy of each, checks them against torch's CPU forward,
and saves main.output.npz. No TensorRT Python API is used: the run block does not apply (the script keeps its run
code inline).
"""
import os
import sys

import numpy as np
import torch

from digits import load

# Logits: FP32 equals torch (1e-4), FP16 within 1e-2 (+1 % of the logit). Accuracies (1 image of 360 is 0.0028)
# against torch's: FP32 the same, FP16 within 0.5 %.
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4, "logits_fp16": {"rtol": 1e-2, "atol": 1e-2},
             "accuracy_fp32": {"rtol": 0.0, "atol": 0.003}, "accuracy_fp16": {"rtol": 0.0, "atol": 0.005}}
REFERENCE_TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # torch on another CPU
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits_cnn.npz")
BATCH_MIN, BATCH_OPT, BATCH_MAX = 1, 32, 64


class DigitsCNN(torch.nn.Module):
    """Chapter 03's train.py network: [N,1,28,28] images -> [N,10] logits."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = torch.nn.Linear(32 * 7 * 7, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def load_model():
    model = DigitsCNN()
    with np.load(WEIGHTS) as data:
        model.load_state_dict({name: torch.from_numpy(data[name]) for name in data.files})
    return model.eval()


def compile_with_tensorrt(model, precisions):
    """torch_tensorrt.compile: the module (on the GPU, eval mode) -> a TorchScript module running a TensorRT engine."""
    import torch_tensorrt  # here, not at the top: the CPU tests import this script where it is not installed

    inputs = [torch_tensorrt.Input(min_shape=(BATCH_MIN, 1, 28, 28), opt_shape=(BATCH_OPT, 1, 28, 28),
                                   max_shape=(BATCH_MAX, 1, 28, 28), dtype=torch.float32)]  # the dynamic batch
    return torch_tensorrt.compile(model, ir="ts", inputs=inputs, enabled_precisions=precisions,
                                  disable_tf32=True)  # FP32 layers in FP32 (TF32 is TensorRT's default on Ampere+)


def run_example(inputs):
    import torch_tensorrt

    print(f"torch {torch.__version__}, torch_tensorrt {torch_tensorrt.__version__}")
    images, labels = inputs["inputT0"], load("test")[1]
    expected = torch_logits(images)
    model = load_model().cuda()
    outputs = {}
    print(f"{'precision':10s} {'max |logit - torch logit|':>26s} {'accuracy':>9s}")
    print(f"{'torch CPU':10s} {'-':>26s} {np.mean(expected.argmax(axis=1) == labels):9.4f}")
    for name, precisions in (("fp32", {torch.float}), ("fp16", {torch.half})):
        compiled = compile_with_tensorrt(model, precisions)
        with torch.no_grad():  # called like the original module, on CUDA tensors, batches of up to 64 images
            logits = np.concatenate([compiled(torch.from_numpy(images[i:i + BATCH_MAX]).cuda()).float().cpu().numpy()
                                     for i in range(0, len(images), BATCH_MAX)])
        accuracy = np.mean(logits.argmax(axis=1) == labels)
        print(f"{name.upper():10s} {np.max(np.abs(logits - expected)):26.3e} {accuracy:9.4f}")
        outputs[f"logits_{name}"] = logits
        outputs[f"accuracy_{name}"] = np.array(accuracy, dtype=np.float32)
    return outputs


def torch_logits(images):
    """The same module on the CPU, in float64 (from the float32 weights): logits [N,10] as float32."""
    with torch.no_grad():
        return load_model().double()(torch.from_numpy(images).double()).numpy().astype(np.float32)


def make_inputs():
    return {"inputT0": load("test")[0]}  # the 360 test images, [360,1,28,28] in [0,1]


def reference(inputs):
    logits = torch_logits(inputs["inputT0"])
    accuracy = np.array(np.mean(logits.argmax(axis=1) == load("test")[1]), dtype=np.float32)
    return {"logits_fp32": logits, "logits_fp16": logits, "accuracy_fp32": accuracy, "accuracy_fp16": accuracy}


def check_outputs(outputs, expected):
    """Shape, dtype and values of each output against the reference, within TOLERANCE; one line per output."""
    passed = True
    for name, want in expected.items():
        got = outputs[name]
        tolerance = TOLERANCE.get(name, {"rtol": TOLERANCE["rtol"], "atol": TOLERANCE["atol"]})
        if got.shape != want.shape or got.dtype != want.dtype:
            print(f"check result: False, {name}: got {got.shape} {got.dtype}, expected {want.shape} {want.dtype}")
            passed = False
            continue
        same = bool(np.allclose(got, want, **tolerance))
        print(f"check result: {same}, {name}: max abs error = {np.max(np.abs(got.astype(np.float64) - want)):.3e} "
              f"(rtol={tolerance['rtol']}, atol={tolerance['atol']})")
        passed = passed and same
    return passed


def main():
    inputs = make_inputs()
    outputs = run_example(inputs)
    expected = reference(inputs)
    passed = check_outputs(outputs, expected)
    np.savez("main.output.npz", **{name: outputs[name] for name in expected if name in outputs})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
