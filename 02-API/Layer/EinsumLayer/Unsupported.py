#!/usr/bin/env python3
"""EinsumLayer / Unsupported: equations TensorRT 8.6 rejects (diagonal, ellipsis, three inputs).

NvInfer.h (8.6): "TensorRT does not support ellipsis, diagonal operations or more than two inputs for Einsum".
Each equation below is tried in its own network; the script prints where it was refused (add_einsum returned
None / raised, or the build failed) and the TensorRT error text. The check is that every one was refused
(known in advance), e.g. trace "ii->" works in numpy but not here: take the diagonal with a Gather/Slice instead.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
# (name, equation, input shapes)
CASES = [
    ("trace", "ii->", [(3, 3)]),
    ("diagonal", "ii->i", [(3, 3)]),
    ("ellipsis", "...ij->...ji", [(2, 3, 4)]),
    ("three_inputs", "ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
]


def make_inputs():
    return {"inputT0": np.arange(9, dtype=np.float32).reshape(3, 3)}


def reference(inputs):
    """All four equations are refused by TensorRT 8.6 (numpy itself computes them, e.g. trace = 12)."""
    return {f"{name}_refused": np.array(True) for name, _, _ in CASES}


def try_equation(equation, shapes):
    """Return (refused, where) for one einsum equation in a fresh network."""
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    tensors = [network.add_input(f"inputT{i}", trt.float32, shape) for i, shape in enumerate(shapes)]
    try:
        layer = network.add_einsum(tensors, equation)
    except Exception as error:  # the Python binding may raise instead of returning None
        print(f"    add_einsum raised: {error}")
        return True, "add_einsum"
    if layer is None:
        return True, "add_einsum"
    network.mark_output(layer.get_output(0))
    serialized = builder.build_serialized_network(network, config)
    return serialized is None, "build_serialized_network"


class CollectingLogger(trt.ILogger):
    """A logger that prints TensorRT's messages and keeps the errors, so the script can show why a build failed."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.errors = []

    def log(self, severity, msg):
        if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR):
            self.errors.append(msg)
            print(f"[TRT] {severity.name}: {msg}")


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def main():
    inputs = make_inputs()
    print(f"numpy: np.einsum('ii->', {inputs['inputT0'].tolist()}) = {np.einsum('ii->', inputs['inputT0'])}")
    outputs = {}
    for name, equation, shapes in CASES:
        print(f"--- {name}: {equation!r}, input shapes {shapes}")
        refused, where = try_equation(equation, shapes)
        print(f"    refused: {refused} (at {where})")
        outputs[f"{name}_refused"] = np.array(refused)
    expected = reference(inputs)
    passed = True
    for name, want in expected.items():
        ok = bool(np.array_equal(outputs[name], want))
        print(f"check result: {ok}, {name} = {bool(outputs[name])} (expected {bool(want)})")
        passed = passed and ok
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
