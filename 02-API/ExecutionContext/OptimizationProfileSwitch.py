#!/usr/bin/env python3
"""02-API/ExecutionContext / OptimizationProfileSwitch: one context switching between two optimization profiles.

Network: inputT0 [-1,-1] float32 -> ElementWise SUM with 1 -> outputT0.
Profile 0: min [1,1], opt [2,3], max [4,5]; profile 1: min [4,4], opt [8,8], max [16,16].
The context starts on profile 0 and runs a [3,4] input; set_optimization_profile_async(1, stream) moves it to
profile 1 for a [10,12] input; then back to profile 0 for a [2,5] input. After each switch the input shape (and
the tensor addresses) are set again. (02-API/OptimizationProfile/MultipleProfiles.py keeps one context per
profile instead, which is what concurrent streams need.)
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
RUNS = ((0, (3, 4)), (1, (10, 12)), (0, (2, 5)))  # (profile index, input shape)
# FP32 engine, an exact addition of 1
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    return {f"inputT0_run{i}": (np.arange(np.prod(shape), dtype=np.float32).reshape(shape) / 4 - i)
            for i, (_, shape) in enumerate(RUNS)}


def reference(inputs):
    return {f"outputT0_run{i}": (inputs[f"inputT0_run{i}"] + 1).astype(np.float32) for i in range(len(RUNS))}


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
    for min_shape, opt_shape, max_shape in PROFILES:
        profile = builder.create_optimization_profile()
        profile.set_shape("inputT0", min_shape, opt_shape, max_shape)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    engine = build_engine(logger)
    print(f"engine.num_optimization_profiles = {engine.num_optimization_profiles}")
    inputs = make_inputs()
    expected = reference(inputs)

    context = engine.create_execution_context()
    stream = check_cuda(cudart.cudaStreamCreate())
    print(f"new context: active_optimization_profile = {context.active_optimization_profile}")
    outputs, passed = {}, True
    for i, (profile_index, shape) in enumerate(RUNS):
        if context.active_optimization_profile != profile_index:
            context.set_optimization_profile_async(profile_index, int(stream))  # raises if it fails
            profile_range = engine.get_tensor_profile_shape("inputT0", profile_index)
            print(f"set_optimization_profile_async({profile_index}, stream): active_optimization_profile = "
                  f"{context.active_optimization_profile}, range {profile_range}")
        x_host = np.ascontiguousarray(inputs[f"inputT0_run{i}"])
        if not context.set_input_shape("inputT0", x_host.shape):  # needed again after every switch
            raise RuntimeError(f"set_input_shape{x_host.shape} failed on profile {profile_index}")
        y_host = np.empty(tuple(context.get_tensor_shape("outputT0")), dtype=np.float32)
        x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
        y_device = check_cuda(cudart.cudaMalloc(y_host.nbytes))
        context.set_tensor_address("inputT0", x_device)
        context.set_tensor_address("outputT0", y_device)
        check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
        # same stream as set_optimization_profile_async: its copies are ordered before this inference
        if not context.execute_async_v3(int(stream)):
            raise RuntimeError("execute_async_v3 failed")
        check_cuda(cudart.cudaMemcpyAsync(y_host.ctypes.data, y_device, y_host.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
        check_cuda(cudart.cudaStreamSynchronize(stream))
        for pointer in (x_device, y_device):
            check_cuda(cudart.cudaFree(pointer))
        key = f"outputT0_run{i}"
        outputs[key] = y_host
        error = float(np.max(np.abs(y_host - expected[key])))
        ok = bool(np.allclose(y_host, expected[key], **TOLERANCE))
        print(f"run {i}: profile {profile_index}, input {shape} -> output {y_host.shape}")
        print(f"check result: {ok}, {key}: max abs error = {error:.3e}")
        passed = passed and ok

    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
