#!/usr/bin/env python3
"""EinsumLayer / Unsupported: equations TensorRT 8.6 rejects (diagonal, ellipsis, three inputs).

NvInfer.h (8.6): "TensorRT does not support ellipsis, diagonal operations or more than two inputs for Einsum".
Each equation below is tried in its own network; the script prints the TensorRT error text and how it was refused:
add_einsum returned None / raised, an error was logged, or the build failed. Watch the logger: for the diagonal
equations TensorRT 8.6.0 logs the error but still returns a layer and even builds an engine. The check is that every
one was refused (known in advance), e.g. trace "ii->" works in numpy but not here: take the diagonal with a
Gather/Slice instead.
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
    """Try one einsum equation in a fresh network; return (refused, what happened).

    TensorRT 8.6 refuses an equation in one of three ways, and all of them count:
    add_einsum returns None (or the binding raises), an error is logged while the layer is created or the network is
    built, or build_serialized_network returns None. The diagonal equations show why the logger matters: on
    TensorRT 8.6.0 logs "Diagonal operations are not permitted in Einsum equation", but add_einsum still returns a
    layer and the build still returns an engine - only the logged error says that the network is invalid."""
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    tensors = [network.add_input(f"inputT{i}", trt.float32, shape) for i, shape in enumerate(shapes)]
    try:
        layer = network.add_einsum(tensors, equation)
    except Exception as error:  # the Python binding may raise instead of returning None
        print(f"    add_einsum raised: {error}")
        layer = None
    errors_at_add = len(logger.errors)
    if layer is None:
        return True, f"add_einsum returned None, {errors_at_add} error(s) logged"
    network.mark_output(layer.get_output(0))
    serialized = builder.build_serialized_network(network, config)
    errors_at_build = len(logger.errors) - errors_at_add
    what = (f"add_einsum returned a layer with {errors_at_add} error(s) logged; build_serialized_network "
            f"{'returned None' if serialized is None else 'returned an engine'} with {errors_at_build} error(s) logged")
    return serialized is None or len(logger.errors) > 0, what


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
        refused, what = try_equation(equation, shapes)
        print(f"    {what}")
        print(f"    refused: {refused}")
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
