#!/usr/bin/env python3
"""01-SimpleDemo: the whole TensorRT 8.6 workflow in one file.

Build time:  Logger -> Builder -> Network (explicit batch, dynamic input [-1,-1,-1]) -> OptimizationProfile
             -> BuilderConfig (workspace pool limit) -> a small network -> serialized engine saved to model.plan
Run time:    Runtime -> Engine -> ExecutionContext (set_input_shape) -> host and device buffers
             -> tensor addresses -> execute_async_v3 on a stream -> copy back -> check against numpy -> free

On the next run model.plan is loaded instead of rebuilt. A plan that cannot be deserialized (built by another
TensorRT version or on another GPU, or a corrupt file) is reported and rebuilt.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

PLAN_FILE = "model.plan"
INPUT_NAME = "inputT0"
OUTPUT_NAME = "outputT0"
# FP32 engine against numpy: the test suite compares the saved outputs with the stored reference using this.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    """The course's input: 0..59 as a [3,4,5] tensor, shifted so that half of it is negative."""
    return {INPUT_NAME: np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5) - 30}


def reference(inputs):
    """Independent numpy computation of the network below: y = ReLU(x) * 2."""
    return {OUTPUT_NAME: (np.maximum(inputs[INPUT_NAME], 0) * 2).astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_serialized_engine(logger):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    profile = builder.create_optimization_profile()
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)  # at most 1 GiB of scratch memory

    input_tensor = network.add_input(INPUT_NAME, trt.float32, [-1, -1, -1])  # every dimension dynamic
    profile.set_shape(INPUT_NAME, [1, 1, 1], [3, 4, 5], [6, 8, 10])  # min / opt / max
    config.add_optimization_profile(profile)

    relu = network.add_activation(input_tensor, trt.ActivationType.RELU)
    relu.name = "ReLU"
    # a constant of shape [1,1,1] broadcasts against any [d0,d1,d2] input in the element-wise layer
    two = network.add_constant([1, 1, 1], np.array([2], dtype=np.float32))
    two.name = "Two"
    times_two = network.add_elementwise(relu.get_output(0), two.get_output(0), trt.ElementWiseOperation.PROD)
    times_two.name = "TimesTwo"
    times_two.get_output(0).name = OUTPUT_NAME
    network.mark_output(times_two.get_output(0))

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the serialized engine failed (see the TensorRT log above)")
    with open(PLAN_FILE, "wb") as f:
        f.write(serialized)
    print(f"Built the engine and saved it to {PLAN_FILE} ({serialized.nbytes} bytes)")
    return serialized


def load_or_build_engine(logger, runtime):
    if os.path.isfile(PLAN_FILE):
        with open(PLAN_FILE, "rb") as f:
            engine = runtime.deserialize_cuda_engine(f.read())
        if engine is not None:
            print(f"Loaded the engine from {PLAN_FILE}")
            return engine
        print(f"{PLAN_FILE} could not be deserialized: it was built by another TensorRT version or on another GPU, "
              "or the file is damaged. Building a new engine instead.")
    engine = runtime.deserialize_cuda_engine(build_serialized_engine(logger))
    if engine is None:
        raise RuntimeError("deserializing the engine that was just built failed")
    return engine


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    runtime = trt.Runtime(logger)
    engine = load_or_build_engine(logger, runtime)

    inputs = make_inputs()
    context = engine.create_execution_context()
    if not context.set_input_shape(INPUT_NAME, inputs[INPUT_NAME].shape):  # required with dynamic shapes
        raise RuntimeError(f"set_input_shape{inputs[INPUT_NAME].shape} failed: outside the optimization profile?")

    tensor_names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    host, device = {}, {}
    for name in tensor_names:
        mode = engine.get_tensor_mode(name)
        dtype = trt.nptype(engine.get_tensor_dtype(name))
        if mode == trt.TensorIOMode.INPUT:
            host[name] = np.ascontiguousarray(inputs[name], dtype=dtype)
        else:  # output shapes are known once every input shape is set
            host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=dtype)
        device[name] = check_cuda(cudart.cudaMalloc(host[name].nbytes))
        context.set_tensor_address(name, device[name])
        print(f"{mode.name:6s} {name}: {dtype.__name__} {tuple(context.get_tensor_shape(name))}")

    stream = check_cuda(cudart.cudaStreamCreate())
    for name in tensor_names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    for name in tensor_names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))

    print(f"{INPUT_NAME}:\n{host[INPUT_NAME]}")
    print(f"{OUTPUT_NAME}:\n{host[OUTPUT_NAME]}")

    expected, output = reference(inputs)[OUTPUT_NAME], host[OUTPUT_NAME]
    if output.shape != expected.shape or output.dtype != expected.dtype:  # shape and dtype first, then values
        passed = False
        print(f"check result: False, got {output.shape} {output.dtype}, expected {expected.shape} {expected.dtype}")
    else:
        passed = bool(np.allclose(output, expected, **TOLERANCE))
        print(f"check result: {passed}, max abs error = {float(np.max(np.abs(output - expected))):.3e}")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **{OUTPUT_NAME: host[OUTPUT_NAME]})

    for name in tensor_names:
        check_cuda(cudart.cudaFree(device[name]))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
