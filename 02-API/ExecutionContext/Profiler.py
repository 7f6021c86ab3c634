#!/usr/bin/env python3
"""02-API/ExecutionContext / Profiler: context.profiler, enqueue_emits_profile and report_to_profiler.

Network: inputT0 [3,4,5] -> ReLU -> ElementWise PROD with 2 -> Shuffle (transpose 2,0,1) -> outputT0 [5,3,4]
A small IProfiler subclass records every (layer name, milliseconds) that TensorRT reports.
  * enqueue_emits_profile = True (default): execute_async_v3 itself reports the layer times (and waits for them);
  * enqueue_emits_profile = False: execute_async_v3 only records CUDA events and returns at once; the times arrive
    when the application calls context.report_to_profiler() after synchronizing the stream.
Timings are printed, never checked; the output is checked against numpy.
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
# FP32 engine: exact operations.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


class RecordingProfiler(trt.IProfiler):
    """An IProfiler: TensorRT calls report_layer_time once per (fused) layer of the engine."""

    def __init__(self):
        trt.IProfiler.__init__(self)  # required for a Python subclass
        self.records = []

    def report_layer_time(self, layer_name, ms):
        self.records.append((layer_name, ms))


def make_inputs():
    return {"inputT0": np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) - 30}


def reference(inputs):
    y = np.maximum(inputs["inputT0"], 0) * 2
    return {"outputT0": np.ascontiguousarray(y.transpose(2, 0, 1)).astype(np.float32)}


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
    relu.name = "ReLU"
    two = network.add_constant((1, 1, 1), np.array([2], dtype=np.float32))
    two.name = "Two"
    prod = network.add_elementwise(relu.get_output(0), two.get_output(0), trt.ElementWiseOperation.PROD)
    prod.name = "TimesTwo"
    shuffle = network.add_shuffle(prod.get_output(0))
    shuffle.name = "Transpose"
    shuffle.first_transpose = (2, 0, 1)
    shuffle.get_output(0).name = "outputT0"
    network.mark_output(shuffle.get_output(0))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


def print_records(profiler, when):
    print(f"  {when}: {len(profiler.records)} layer time(s) reported")
    for name, ms in profiler.records:
        print(f"    {name}: {ms:.4f} ms")


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    engine = build_engine(logger)
    inputs = make_inputs()
    x_host = np.ascontiguousarray(inputs["inputT0"])

    context = engine.create_execution_context()
    profiler = RecordingProfiler()
    print(f"context.profiler before = {context.profiler}")
    context.profiler = profiler  # trt.Profiler() is a ready-made one that prints each layer's time
    y_host = np.empty(tuple(context.get_tensor_shape("outputT0")), dtype=np.float32)
    x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
    y_device = check_cuda(cudart.cudaMalloc(y_host.nbytes))
    context.set_tensor_address("inputT0", x_device)
    context.set_tensor_address("outputT0", y_device)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))

    print(f"--- enqueue_emits_profile = {context.enqueue_emits_profile} (default)")
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    print_records(profiler, "right after execute_async_v3")
    check_cuda(cudart.cudaStreamSynchronize(stream))

    profiler.records.clear()
    context.enqueue_emits_profile = False
    print(f"--- enqueue_emits_profile = {context.enqueue_emits_profile}")
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaStreamSynchronize(stream))
    print_records(profiler, "after execute_async_v3 and synchronizing")
    print(f"  report_to_profiler() returned {context.report_to_profiler()}")
    print_records(profiler, "after report_to_profiler")

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
