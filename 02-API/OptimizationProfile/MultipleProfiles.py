#!/usr/bin/env python3
"""02-API/OptimizationProfile / MultipleProfiles: two optimization profiles in one engine, one context per profile.

Network: inputT0 [-1,-1] float32 -> ElementWise SUM with 1 -> outputT0.
Profile 0 covers small inputs (min [1,1], opt [2,3], max [4,5]), profile 1 large ones (min [4,4], opt [8,8],
max [16,16]); TensorRT tunes kernels for each opt shape separately. extra_memory_target on profile 1 asks the
builder to spend at most that fraction of extra weight memory on it.
At run time: engine.num_optimization_profiles, engine.get_tensor_profile_shape(name, i); a context is bound to a
profile with context.set_optimization_profile_async(i, stream) (the first context of an engine gets profile 0
implicitly). Context 0 runs a [3,4] input, context 1 a [10,12] input; set_input_shape((10,12)) on context 0,
whose profile allows at most [4,5], is printed (on an H100 with 8.6.0 it returned True with no message).
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

PROFILES = (((1, 1), (2, 3), (4, 5)), ((4, 4), (8, 8), (16, 16)))  # (min, opt, max) per profile
# FP32 engine, an exact addition of 1
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    return {"inputT0_profile0": np.arange(3 * 4, dtype=np.float32).reshape(3, 4),
            "inputT0_profile1": np.arange(10 * 12, dtype=np.float32).reshape(10, 12) / 10}


def reference(inputs):
    return {"outputT0_profile0": (inputs["inputT0_profile0"] + 1).astype(np.float32),
            "outputT0_profile1": (inputs["inputT0_profile1"] + 1).astype(np.float32)}


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

    x = network.add_input("inputT0", trt.float32, (-1, -1))
    one = network.add_constant((1, 1), np.array([1], dtype=np.float32))
    add = network.add_elementwise(x, one.get_output(0), trt.ElementWiseOperation.SUM)
    add.get_output(0).name = "outputT0"
    network.mark_output(add.get_output(0))

    for i, (min_shape, opt_shape, max_shape) in enumerate(PROFILES):
        profile = builder.create_optimization_profile()
        profile.set_shape("inputT0", min_shape, opt_shape, max_shape)
        if i > 0:
            profile.extra_memory_target = 0.5
        index = config.add_optimization_profile(profile)
        print(f"profile {index}: {profile.get_shape('inputT0')}, extra_memory_target = {profile.extra_memory_target}")

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


def run(context, x, stream):
    """Set the input shape, bind buffers, run on the stream, return the output."""
    context.set_input_shape("inputT0", x.shape)
    x_host = np.ascontiguousarray(x)
    y_host = np.empty(tuple(context.get_tensor_shape("outputT0")), dtype=np.float32)
    x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
    y_device = check_cuda(cudart.cudaMalloc(y_host.nbytes))
    context.set_tensor_address("inputT0", x_device)
    context.set_tensor_address("outputT0", y_device)
    check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(y_host.ctypes.data, y_device, y_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in (x_device, y_device):
        check_cuda(cudart.cudaFree(pointer))
    return y_host


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    engine = build_engine(logger)
    print(f"engine.num_optimization_profiles = {engine.num_optimization_profiles}")
    print(f"engine.num_io_tensors = {engine.num_io_tensors} (names are shared by all profiles)")
    for i in range(engine.num_optimization_profiles):
        print(f"engine.get_tensor_profile_shape('inputT0', {i}) = {engine.get_tensor_profile_shape('inputT0', i)}")

    inputs = make_inputs()
    expected = reference(inputs)
    streams = [check_cuda(cudart.cudaStreamCreate()) for _ in range(2)]
    contexts = [engine.create_execution_context() for _ in range(2)]
    print(f"profiles of the new contexts: {[c.active_optimization_profile for c in contexts]} "
          "(the first context gets profile 0, a later one none (-1) until it is set)")
    contexts[1].set_optimization_profile_async(1, int(streams[1]))  # may enqueue copies on that stream
    check_cuda(cudart.cudaStreamSynchronize(streams[1]))
    print(f"after set_optimization_profile_async(1, stream): {[c.active_optimization_profile for c in contexts]}")

    print(f"context 0: set_input_shape('inputT0', (10, 12)) returned "
          f"{contexts[0].set_input_shape('inputT0', (10, 12))} (profile 0 allows at most [4,5]; see README)")

    outputs, passed = {}, True
    for i, context in enumerate(contexts):
        x = inputs[f"inputT0_profile{i}"]
        key = f"outputT0_profile{i}"
        outputs[key] = run(context, x, streams[i])
        print(f"context {i} (profile {context.active_optimization_profile}), input {x.shape} -> {key}:\n{outputs[key]}")
        error = float(np.max(np.abs(outputs[key] - expected[key])))
        ok = bool(np.allclose(outputs[key], expected[key], **TOLERANCE))
        print(f"check result: {ok}, {key}: max abs error = {error:.3e}")
        passed = passed and ok

    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    for stream in streams:
        check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
