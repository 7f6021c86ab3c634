#!/usr/bin/env python3
"""NonZeroLayer / SimpleExample: add_non_zero(x) -> the indices of the non-zero elements, like numpy.nonzero.

For an input of rank m with n non-zero elements the output is an INT32 tensor [m, n] (one column per element, in
row-major order). n depends on the data, so the output shape is [2, -1] until the engine runs: TensorRT 8.6 then
needs an IOutputAllocator for that output (context.set_output_allocator); the OutputAllocator class below gets the
size in reallocate_output() and the shape in notify_shape()."""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # the output is INT32: compared exactly
SHAPE = (3, 4)


def make_inputs():
    x = np.zeros(SHAPE, dtype=np.float32)
    x[0, 1], x[1, 0], x[1, 3], x[2, 2], x[2, 3] = 1.5, -2, 3, 0.25, -1
    return {"inputT0": x}


def reference(inputs):
    return {"outputT0": np.array(np.nonzero(inputs["inputT0"]), dtype=np.int32)}


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    layer = network.add_non_zero(x)
    print(f"output dtype {layer.get_output(0).dtype}, shape at build time {layer.get_output(0).shape}")
    layer.get_output(0).name = "outputT0"
    network.mark_output(layer.get_output(0))


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class OutputAllocator(trt.IOutputAllocator):
    """Device memory for an output whose shape is known only while the engine runs (data-dependent shape).

    enqueue (execute_async_v3) calls reallocate_output() with the number of bytes it needs, then notify_shape()
    with the real shape of the output. TensorRT 8.6 needs one of these (or a large enough preset address) for
    every output whose shape contains -1 after all input shapes are set.
    """

    def __init__(self):
        trt.IOutputAllocator.__init__(self)
        self.address = 0
        self.size = 0
        self.shape = None

    def reallocate_output(self, tensor_name, memory, size, alignment):
        print(f"  reallocate_output(tensor_name={tensor_name}, size={size}, alignment={alignment})")
        if size > self.size:
            if self.address:
                check_cuda(cudart.cudaFree(self.address))
            self.address = check_cuda(cudart.cudaMalloc(size))
            self.size = size
        return self.address

    def notify_shape(self, tensor_name, shape):
        print(f"  notify_shape(tensor_name={tensor_name}, shape={tuple(shape)})")
        self.shape = tuple(shape)


def check(name, actual, expected):
    """Compare one output with its reference: floats within TOLERANCE, integers and booleans exactly."""
    if actual.shape != expected.shape:
        print(f"check result: False, {name}: shape {actual.shape} != expected {expected.shape}")
        return False
    if expected.dtype.kind in "fc":
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        error = float(np.max(np.abs(a - e))) if e.size else 0.0
        ok = bool(np.allclose(a, e, **TOLERANCE))
        print(f"check result: {ok}, {name}: max abs error = {error:.3e}")
    else:
        differ = int(np.sum(actual != expected))
        ok = differ == 0
        print(f"check result: {ok}, {name}: {differ} of {expected.size} elements differ (exact comparison)")
    return ok


def run_engine(inputs):
    """Build the network, run it once, return {output name: numpy array}.

    Outputs with a data-dependent shape get an OutputAllocator instead of a preset address.
    """
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    add_layers(network, inputs)
    # TensorRT 8.6 quirk: an engine with a data-dependent output shape (NonZero, NMS) needs an optimization profile,
    # even when every input shape is static; without one, create_execution_context() logs "Unexpected exception
    # vector<bool>::_M_range_check" and returns None. A profile with min = opt = max = the static shape is enough.
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        profile.set_shape(tensor.name, tuple(tensor.shape), tuple(tensor.shape), tuple(tensor.shape))
        print(f"optimization profile: {tensor.name} min = opt = max = {tuple(tensor.shape)}")
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    context = engine.create_execution_context()
    if context is None:
        raise RuntimeError("create_execution_context failed (see the TensorRT log above)")
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device, allocators = {}, {}, {}
    for name in input_names:
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        context.set_input_shape(name, host[name].shape)
        device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
        context.set_tensor_address(name, device[name])
    for name in output_names:
        shape = tuple(context.get_tensor_shape(name))
        if -1 in shape:  # data-dependent: the size is known only during enqueue
            print(f"{name}: shape before enqueue {shape}, upper bound {context.get_max_output_size(name)} bytes"
                  " -> set_output_allocator")
            allocators[name] = OutputAllocator()
            if not context.set_output_allocator(name, allocators[name]):
                raise RuntimeError(f"set_output_allocator({name}) failed")
        else:
            host[name] = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
            device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
            context.set_tensor_address(name, device[name])
    stream = check_cuda(cudart.cudaStreamCreate())
    for name in input_names:
        check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    print("execute_async_v3:")
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for name, allocator in allocators.items():  # the shape is known now
        print(f"{name}: shape after enqueue {tuple(context.get_tensor_shape(name))}")
        host[name] = np.empty(allocator.shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        device[name] = allocator.address
    for name in output_names:
        if host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    check_cuda(cudart.cudaStreamDestroy(stream))
    for name in names:
        if device.get(name):
            check_cuda(cudart.cudaFree(device[name]))
    return {name: host[name] for name in output_names}


def main():
    np.set_printoptions(precision=3, linewidth=120, suppress=True)
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"{name} {value.shape} {value.dtype}:\n{value}")
    outputs = run_engine(inputs)
    expected = reference(inputs)
    passed = True
    for name, value in expected.items():
        print(f"{name} {outputs[name].shape} {outputs[name].dtype}:\n{outputs[name]}")
        passed = check(name, outputs[name], value) and passed
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **{k: outputs[k] for k in expected})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
