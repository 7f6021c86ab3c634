#!/usr/bin/env python3
"""AssertionLayer / BuildTimeFailure: a condition that is false at build time rejects the network.

Static inputs [2,4] and [3,4]: the condition "same number of rows" is a build-time constant (False), so
build_serialized_network returns None and the TensorRT log carries the assertion's message.
The check is that the build failed (known in advance: reference() returns build_failed = True).
The member `message` can also be changed after creation.
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


def make_inputs():
    return {"inputT0": np.zeros((2, 4), dtype=np.float32), "inputT1": np.zeros((3, 4), dtype=np.float32)}


def reference(inputs):
    """The condition 2 == 3 is false when the engine is built: the build must fail."""
    return {"build_failed": np.array(inputs["inputT0"].shape[0] != inputs["inputT1"].shape[0])}


def add_condition(network, a, b):
    """Boolean shape tensor [1]: inputT0.shape[0] == inputT1.shape[0] (Shape -> Slice -> ElementWise EQUAL)."""
    rows_a = network.add_slice(network.add_shape(a).get_output(0), (0,), (1,), (1,)).get_output(0)
    rows_b = network.add_slice(network.add_shape(b).get_output(0), (0,), (1,), (1,)).get_output(0)
    return network.add_elementwise(rows_a, rows_b, trt.ElementWiseOperation.EQUAL).get_output(0)


def add_layers(network, inputs):
    a = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    b = network.add_input("inputT1", trt.float32, inputs["inputT1"].shape)
    assertion = network.add_assertion(add_condition(network, a, b), "first message")
    assertion.message = "inputT0 and inputT1 must have the same number of rows"  # the member can be changed later
    print(f"assertion.message = {assertion.message!r}")
    concat = network.add_concatenation([a, b])
    concat.axis = 0
    concat.get_output(0).name = "outputT0"
    network.mark_output(concat.get_output(0))


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
    for name, value in inputs.items():
        print(f"{name} shape = {value.shape}")
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    add_layers(network, inputs)
    serialized = builder.build_serialized_network(network, config)
    outputs = {"build_failed": np.array(serialized is None)}
    print(f"build_serialized_network returned {'None' if serialized is None else 'an engine'}")
    print(f"the assertion message is in the log: {any('same number of rows' in m for m in logger.errors)}")
    expected = reference(inputs)
    passed = bool(np.array_equal(outputs["build_failed"], expected["build_failed"]))
    print(f"check result: {passed}, build_failed = {bool(outputs['build_failed'])} (expected {bool(expected['build_failed'])})")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
