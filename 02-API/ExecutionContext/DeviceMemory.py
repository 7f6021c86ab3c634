#!/usr/bin/env python3
"""02-API/ExecutionContext / DeviceMemory: a context whose scratch memory the application provides.

engine.device_memory_size is the GPU memory a context needs for intermediate tensors and workspace.
engine.create_execution_context() allocates it itself; engine.create_execution_context_without_device_memory()
does not, and the application assigns a buffer of at least that size with context.device_memory = address
(write-only in Python) before running. Several contexts that never run at the same time can share one buffer.
Network: inputT0 [3,4,5] -> ReLU -> Shuffle (transpose 2,0,1) -> Softmax over the last axis -> outputT0 [5,3,4]
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

SHAPE = (3, 4, 5)
# FP32 engine; softmax values lie in [0, 1] and differ from numpy only in the last bits.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    return {"inputT0": (np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) - 30) / 10}


def reference(inputs):
    y = np.maximum(inputs["inputT0"], 0).transpose(2, 0, 1).astype(np.float64)
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return {"outputT0": (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)}


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
    x = network.add_input("inputT0", trt.float32, SHAPE)
    relu = network.add_activation(x, trt.ActivationType.RELU)
    shuffle = network.add_shuffle(relu.get_output(0))
    shuffle.first_transpose = (2, 0, 1)
    softmax = network.add_softmax(shuffle.get_output(0))
    softmax.axes = 1 << 2  # bit mask of axes: the last axis of [5,3,4]
    softmax.get_output(0).name = "outputT0"
    network.mark_output(softmax.get_output(0))
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
    size = engine.device_memory_size
    print(f"engine.device_memory_size = {size} bytes")

    context = engine.create_execution_context_without_device_memory()
    scratch = check_cuda(cudart.cudaMalloc(max(size, 1)))  # cudaMalloc memory is 256-byte aligned
    context.device_memory = scratch  # must stay allocated while the context runs
    print(f"context.device_memory = {scratch:#x} (a buffer of {max(size, 1)} bytes owned by the application)")

    inputs = make_inputs()
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

    del context  # release the context before the memory it uses
    for pointer in (x_device, y_device, scratch):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
