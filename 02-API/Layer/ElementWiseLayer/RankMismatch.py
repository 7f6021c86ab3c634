#!/usr/bin/env python3
"""ElementWiseLayer / RankMismatch: inputs of different ranks are refused (no implicit unsqueeze).

[2,3,4] + [3,4]: numpy broadcasts by prepending axes, TensorRT 8.6 does not. The script prints where it was
refused (add_elementwise returned None / raised, or the build failed) and the TensorRT error text.
The fix: reshape the smaller input to the same rank first (a Shuffle layer with reshape_dims (1,3,4)).
The check is that the network was refused (known in advance).
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
    return {"inputT0": np.zeros((2, 3, 4), dtype=np.float32), "inputT1": np.zeros((3, 4), dtype=np.float32)}


def reference(inputs):
    return {"refused": np.array(inputs["inputT0"].ndim != inputs["inputT1"].ndim)}


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


def try_network(inputs):
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    a = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    b = network.add_input("inputT1", trt.float32, inputs["inputT1"].shape)
    try:
        layer = network.add_elementwise(a, b, trt.ElementWiseOperation.SUM)
    except Exception as error:  # the Python binding may raise instead of returning None
        print(f"add_elementwise raised: {error}")
        return True
    if layer is None:
        print("add_elementwise returned None")
        return True
    network.mark_output(layer.get_output(0))
    serialized = builder.build_serialized_network(network, config)
    print(f"build_serialized_network returned {'None' if serialized is None else 'an engine'}")
    return serialized is None


def main():
    inputs = make_inputs()
    print(f"inputT0 {inputs['inputT0'].shape} + inputT1 {inputs['inputT1'].shape}; "
          f"numpy would give {(inputs['inputT0'] + inputs['inputT1']).shape}")
    outputs = {"refused": np.array(try_network(inputs))}
    expected = reference(inputs)
    passed = bool(np.array_equal(outputs["refused"], expected["refused"]))
    print(f"check result: {passed}, refused = {bool(outputs['refused'])} (expected {bool(expected['refused'])})")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
