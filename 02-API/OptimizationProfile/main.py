#!/usr/bin/env python3
"""02-API/OptimizationProfile: an optimization profile for an input with dynamic dimensions (an execution tensor).

Network: inputT0 [-1,4,-1] float32 -> ElementWise PROD with 2 -> outputT0 (same shape).
The profile gives the range of the dynamic dimensions: min [1,4,1], opt [2,4,3], max [4,4,8]; the static
dimension 4 must be the same in all three. TensorRT tunes its kernels for opt and accepts any shape in
[min, max] at run time; a shape outside is refused by context.set_input_shape.

Members shown: set_shape / get_shape, bool(profile) (IOptimizationProfile::isValid in C++), extra_memory_target,
config.add_optimization_profile (its return value), and a profile that is rejected (min > max).
Shape-tensor inputs: ShapeInput.py. Several profiles in one engine: MultipleProfiles.py.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

# FP32 engine, an exact multiplication by 2
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


class CollectingLogger(trt.ILogger):
    """Prints TensorRT's messages of severity WARNING or worse and keeps them in self.messages."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(trt.ILogger.Severity.WARNING):
            self.messages.append(msg)
            print(f"[TRT] {severity.name}: {msg}")


def make_inputs():
    return {"inputT0": np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5) - 30}


def reference(inputs):
    return {"outputT0": (inputs["inputT0"] * 2).astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(logger):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()

    x = network.add_input("inputT0", trt.float32, (-1, 4, -1))
    two = network.add_constant((1, 1, 1), np.array([2], dtype=np.float32))
    prod = network.add_elementwise(x, two.get_output(0), trt.ElementWiseOperation.PROD)
    prod.get_output(0).name = "outputT0"
    network.mark_output(prod.get_output(0))

    profile = builder.create_optimization_profile()
    print(f"new profile: get_shape('inputT0') = {profile.get_shape('inputT0')} (empty: nothing set yet), "
          f"bool(profile) = {bool(profile)}, extra_memory_target = {profile.extra_memory_target}")
    profile.set_shape("inputT0", (1, 4, 1), (2, 4, 3), (4, 4, 8))  # min, opt, max
    print(f"after set_shape: get_shape('inputT0') = {profile.get_shape('inputT0')}, bool(profile) = {bool(profile)}")
    profile.extra_memory_target = 0.5  # a hint for profiles after the first; ignored for profile 0
    print(f"extra_memory_target = {profile.extra_memory_target}")
    index = config.add_optimization_profile(profile)
    print(f"config.add_optimization_profile returned {index}, config.num_optimization_profiles = "
          f"{config.num_optimization_profiles}")

    bad = builder.create_optimization_profile()
    try:
        bad.set_shape("inputT0", (4, 4, 8), (2, 4, 3), (1, 4, 1))  # min > opt > max: inconsistent
        print("set_shape with min > max was accepted by set_shape itself")
    except (RuntimeError, ValueError) as error:
        print(f"set_shape with min > max raised {type(error).__name__}: {error}")
    print(f"bool(bad profile) = {bool(bad)}")  # False: such a profile cannot be added
    # (not added to the config: add_optimization_profile returns -1 for a profile that is not valid)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


def main():
    logger = CollectingLogger()
    engine = build_engine(logger)
    print(f"engine.get_tensor_shape('inputT0') = {engine.get_tensor_shape('inputT0')} (-1: dynamic)")
    print(f"engine.get_tensor_profile_shape('inputT0', 0) = {engine.get_tensor_profile_shape('inputT0', 0)}")

    inputs = make_inputs()
    context = engine.create_execution_context()
    logger.messages.clear()
    ok = context.set_input_shape("inputT0", (5, 4, 2))  # 5 > max 4: outside the profile
    print(f"set_input_shape('inputT0', (5, 4, 2)) returned {ok} ({len(logger.messages)} message(s) logged)")
    ok = context.set_input_shape("inputT0", inputs["inputT0"].shape)
    print(f"set_input_shape('inputT0', {inputs['inputT0'].shape}) returned {ok}; "
          f"output shape = {context.get_tensor_shape('outputT0')}")

    x_host = np.ascontiguousarray(inputs["inputT0"])
    y_host = np.empty(tuple(context.get_tensor_shape("outputT0")), dtype=np.float32)
    x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
    y_device = check_cuda(cudart.cudaMalloc(y_host.nbytes))
    context.set_tensor_address("inputT0", x_device)
    context.set_tensor_address("outputT0", y_device)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(y_host.ctypes.data, y_device, y_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    print(f"outputT0 {y_host.shape}:\n{y_host}")

    expected = reference(inputs)["outputT0"]
    max_error = float(np.max(np.abs(y_host - expected)))
    passed = bool(np.allclose(y_host, expected, **TOLERANCE))
    print(f"check result: {passed}, max abs error = {max_error:.3e}")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", outputT0=y_host)

    for pointer in (x_device, y_device):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
