#!/usr/bin/env python3
"""02-API/GPUAllocator/OutputAllocator.py: an output whose shape depends on the data (NonZero).

The shape of NonZero's output [rank, number of non-zero elements] is known only while the engine runs, so the
caller cannot size the output buffer in advance. A trt.IOutputAllocator subclass, attached with
context.set_output_allocator(name, allocator), is asked during execute_async_v3 for the memory:
    reallocate_output(tensor_name, memory, size, alignment) -> device pointer (int) of at least size bytes
        memory is the current address (0 when none was set); returning it again is fine when it is big enough
    notify_shape(tensor_name, shape)  -> the output's actual shape, once known
Before the run, engine/context report the output shape with -1 for the data-dependent dimension, and
context.get_max_output_size(name) gives an upper bound in bytes. The result is checked against np.nonzero.
TensorRT 8.6.0 needed an optimization profile for such an engine even with a static input (see build()).
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

INPUT_NAME = "inputT0"
OUTPUT_NAME = "outputT0"
SHAPE = (3, 5)
TOLERANCE = {"rtol": 0, "atol": 0}  # integer indices: compared exactly


def make_inputs():
    rng = np.random.default_rng(31193)
    x = rng.integers(-2, 3, size=SHAPE).astype(np.float32)  # about one element in five is 0
    return {INPUT_NAME: x}


def reference(inputs):
    """The indices of the non-zero elements, one row per dimension: shape [2, count], int32."""
    return {OUTPUT_NAME: np.array(np.nonzero(inputs[INPUT_NAME]), dtype=np.int32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class MyOutputAllocator(trt.IOutputAllocator):
    """Keeps one growing device buffer per output and remembers the shape TensorRT reports."""

    def __init__(self):
        trt.IOutputAllocator.__init__(self)  # the base class must be initialised explicitly
        self.buffers = {}  # tensor name -> (pointer, size)
        self.shapes = {}  # tensor name -> shape reported by notify_shape

    def reallocate_output(self, tensor_name, memory, size, alignment):
        print(f"  reallocate_output(tensor_name={tensor_name!r}, memory={memory}, size={size}, "
              f"alignment={alignment})")
        pointer, capacity = self.buffers.get(tensor_name, (0, 0))
        if size <= capacity:
            return pointer  # big enough: reuse
        if pointer:
            check_cuda(cudart.cudaFree(pointer))
        error, pointer = cudart.cudaMalloc(size)
        if error != cudart.cudaError_t.cudaSuccess:
            return 0  # nullptr: the inference fails
        self.buffers[tensor_name] = (int(pointer), size)
        return int(pointer)

    def notify_shape(self, tensor_name, shape):
        print(f"  notify_shape(tensor_name={tensor_name!r}, shape={tuple(shape)})")
        self.shapes[tensor_name] = tuple(shape)

    def release(self):
        for pointer, _ in self.buffers.values():
            check_cuda(cudart.cudaFree(pointer))
        self.buffers = {}


def build(logger):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    x = network.add_input(INPUT_NAME, trt.float32, SHAPE)
    # TensorRT 8.6.0 quirk: an engine with a data-dependent output shape needs an optimization profile, even when the
    # input shape is static; without one, create_execution_context() logs "Unexpected exception
    # vector<bool>::_M_range_check" and returns None. A profile with min = opt = max = the static shape is enough.
    profile = builder.create_optimization_profile()
    profile.set_shape(INPUT_NAME, SHAPE, SHAPE, SHAPE)
    config.add_optimization_profile(profile)
    print(f"optimization profile: {INPUT_NAME} min = opt = max = {SHAPE}")
    nonzero = network.add_non_zero(x)
    nonzero.name = "NonZero"
    nonzero.get_output(0).name = OUTPUT_NAME
    network.mark_output(nonzero.get_output(0))
    print(f"network output shape: {tuple(nonzero.get_output(0).shape)} (-1: known only at run time)")
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("building the engine failed")
    return plan


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(build(logger))
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    context = engine.create_execution_context()
    if context is None:
        raise RuntimeError("create_execution_context failed (see the TensorRT log above)")

    inputs = make_inputs()
    x = inputs[INPUT_NAME]
    print(f"{INPUT_NAME}:\n{x}")
    print(f"engine.get_tensor_shape({OUTPUT_NAME!r}) = {tuple(engine.get_tensor_shape(OUTPUT_NAME))}, "
          f"dtype {engine.get_tensor_dtype(OUTPUT_NAME)}")
    print(f"context.get_tensor_shape({OUTPUT_NAME!r}) before the run = {tuple(context.get_tensor_shape(OUTPUT_NAME))}")
    print(f"context.get_max_output_size({OUTPUT_NAME!r}) = {context.get_max_output_size(OUTPUT_NAME)} bytes")

    allocator = MyOutputAllocator()
    context.set_output_allocator(OUTPUT_NAME, allocator)  # no set_tensor_address for this output
    print(f"context.get_output_allocator({OUTPUT_NAME!r}) is ours: "
          f"{context.get_output_allocator(OUTPUT_NAME) is allocator}")

    d_in = check_cuda(cudart.cudaMalloc(x.nbytes))
    context.set_tensor_address(INPUT_NAME, d_in)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(d_in, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                      stream))
    print("execute_async_v3:")
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    shape = allocator.shapes[OUTPUT_NAME]  # known once execute_async_v3 has returned
    out = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(OUTPUT_NAME)))
    pointer = allocator.buffers[OUTPUT_NAME][0]
    if out.nbytes > 0:
        check_cuda(cudart.cudaMemcpyAsync(out.ctypes.data, pointer, out.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    print(f"context.get_tensor_shape({OUTPUT_NAME!r}) after the run = {tuple(context.get_tensor_shape(OUTPUT_NAME))}")
    print(f"{OUTPUT_NAME} {out.shape}:\n{out}")

    expected = reference(inputs)[OUTPUT_NAME]
    passed = out.shape == expected.shape and bool(np.array_equal(out, expected))
    mismatches = int(np.sum(out != expected)) if out.shape == expected.shape else -1
    print(f"check result: {passed}, shape {out.shape} (expected {expected.shape}), {mismatches} indices differ")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **{OUTPUT_NAME: out})

    check_cuda(cudart.cudaStreamDestroy(stream))
    check_cuda(cudart.cudaFree(d_in))
    allocator.release()
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
