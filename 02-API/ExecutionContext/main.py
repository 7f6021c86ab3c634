#!/usr/bin/env python3
"""02-API/ExecutionContext: the members of IExecutionContext used for one inference, printed before and after.

Network: inputT0 [-1,-1,-1] float32 (profile min [1,1,1], opt [3,4,5], max [6,8,10]) -> ReLU
         -> Shuffle with first_transpose (2,0,1) -> outputT0 [d2,d0,d1]
Steps: name; get_tensor_shape, infer_shapes, all_binding_shapes_specified / all_shape_inputs_specified before and
after set_input_shape; get_tensor_strides; set_tensor_address / get_tensor_address; debug_sync;
persistent_cache_limit; nvtx_verbosity; execute_async_v3; check against numpy. Then the same inference once
more with execute_v2(bindings), the synchronous call that takes the buffer addresses as a list (not deprecated in
TensorRT 8.6; execute_async_v3 with set_tensor_address is the asynchronous, name-based one this cookbook uses);
that output is saved and checked as its own set, main.execute_v2.output.npz.
Other scripts here: Profiler.py (enqueue_emits_profile, report_to_profiler), OptimizationProfileSwitch.py
(set_optimization_profile_async), DeviceMemory.py (create_execution_context_without_device_memory, device_memory).
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

# FP32 engine: ReLU and a transpose are exact.
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
    return {"outputT0": np.ascontiguousarray(np.maximum(inputs["inputT0"], 0).transpose(2, 0, 1)).astype(np.float32)}


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
    profile = builder.create_optimization_profile()
    config = builder.create_builder_config()  # profiling_verbosity stays LAYER_NAMES_ONLY (the default)

    x = network.add_input("inputT0", trt.float32, (-1, -1, -1))
    profile.set_shape("inputT0", (1, 1, 1), (3, 4, 5), (6, 8, 10))
    config.add_optimization_profile(profile)
    relu = network.add_activation(x, trt.ActivationType.RELU)
    relu.name = "ReLU"
    shuffle = network.add_shuffle(relu.get_output(0))
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


def show_shapes(context, when):
    print(f"--- {when}")
    print(f"  get_tensor_shape('inputT0') = {context.get_tensor_shape('inputT0')}, "
          f"get_tensor_shape('outputT0') = {context.get_tensor_shape('outputT0')}")
    print(f"  all_binding_shapes_specified = {context.all_binding_shapes_specified}, "
          f"all_shape_inputs_specified = {context.all_shape_inputs_specified} (binding-API flags)")
    try:
        print(f"  infer_shapes() = {context.infer_shapes()} (names of inputs still missing a shape or value)")
    except RuntimeError as error:  # raised when TensorRT reports an error instead of a list of names
        print(f"  infer_shapes() raised RuntimeError: {error}")


def check_array(label, actual, expected):
    """Shape, dtype, then values within TOLERANCE; prints one check result line."""
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        print(f"check result: False, {label}: got {actual.shape} {actual.dtype}, expected {expected.shape} "
              f"{expected.dtype}")
        return False
    passed = bool(np.allclose(actual, expected, **TOLERANCE))
    print(f"check result: {passed}, {label}: max abs error = {float(np.max(np.abs(actual - expected))):.3e}")
    return passed


def main():
    logger = CollectingLogger()
    engine = build_engine(logger)
    inputs = make_inputs()
    x_host = np.ascontiguousarray(inputs["inputT0"])

    context = engine.create_execution_context()
    print(f"context.name = {context.name!r}")
    context.name = "MainContext"
    print(f"context.name = {context.name!r} after setting it; context.engine.name = {context.engine.name!r}")

    show_shapes(context, "before set_input_shape")
    print(f"set_input_shape('inputT0', {x_host.shape}) returned {context.set_input_shape('inputT0', x_host.shape)}")
    show_shapes(context, "after set_input_shape")
    print(f"get_tensor_strides('inputT0') = {context.get_tensor_strides('inputT0')}, "
          f"get_tensor_strides('outputT0') = {context.get_tensor_strides('outputT0')} (in elements)")

    y_host = np.empty(tuple(context.get_tensor_shape("outputT0")), dtype=np.float32)
    x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
    y_device = check_cuda(cudart.cudaMalloc(y_host.nbytes))
    print(f"get_tensor_address('inputT0') before set_tensor_address = {context.get_tensor_address('inputT0')}")
    context.set_tensor_address("inputT0", x_device)
    context.set_tensor_address("outputT0", y_device)
    addresses_ok = (context.get_tensor_address("inputT0") == int(x_device)
                    and context.get_tensor_address("outputT0") == int(y_device))
    print(f"check result: {addresses_ok}, get_tensor_address returns what set_tensor_address was given "
          f"({context.get_tensor_address('inputT0'):#x}, {context.get_tensor_address('outputT0'):#x})")

    print(f"debug_sync = {context.debug_sync}", end="")
    context.debug_sync = True  # TensorRT then logs each kernel's successful execution during execute_v2 only
    print(f" -> {context.debug_sync} (no effect on execute_async_v3)")
    context.debug_sync = False

    max_persisting = check_cuda(cudart.cudaDeviceGetAttribute(
        cudart.cudaDeviceAttr.cudaDevAttrMaxPersistingL2CacheSize, 0))
    print(f"persistent_cache_limit = {context.persistent_cache_limit} bytes (GPU allows at most {max_persisting})",
          end="")
    context.persistent_cache_limit = min(1 << 20, max_persisting)
    print(f" -> {context.persistent_cache_limit} bytes")

    print(f"engine.profiling_verbosity = {engine.profiling_verbosity}, nvtx_verbosity = {context.nvtx_verbosity}")
    context.nvtx_verbosity = trt.ProfilingVerbosity.NONE
    print(f"  after nvtx_verbosity = NONE: {context.nvtx_verbosity}")
    logger.messages.clear()
    context.nvtx_verbosity = trt.ProfilingVerbosity.DETAILED  # above the engine's level: refused
    print(f"  after nvtx_verbosity = DETAILED: {context.nvtx_verbosity} ({len(logger.messages)} message(s) logged)")
    context.nvtx_verbosity = trt.ProfilingVerbosity.LAYER_NAMES_ONLY

    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    print(f"execute_async_v3 returned {context.execute_async_v3(int(stream))}")
    check_cuda(cudart.cudaMemcpyAsync(y_host.ctypes.data, y_device, y_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    print(f"outputT0 {y_host.shape}:\n{y_host}")

    stem = os.path.splitext(os.path.basename(__file__))[0]
    expected = reference(inputs)["outputT0"]
    passed = check_array("execute_async_v3", y_host, expected)
    np.savez(f"{stem}.output.npz", outputT0=y_host)

    # execute_v2: synchronous; the addresses as a list indexed like the I/O tensors (engine.get_tensor_name(i)),
    # which for an engine with one optimization profile is the binding order execute_v2 expects
    check_cuda(cudart.cudaMemsetAsync(y_device, 0, y_host.nbytes, stream))  # so that the result below is new
    check_cuda(cudart.cudaStreamSynchronize(stream))
    bindings = [context.get_tensor_address(engine.get_tensor_name(i)) for i in range(engine.num_io_tensors)]
    print(f"execute_v2(bindings = {[hex(b) for b in bindings]}) returned {context.execute_v2(bindings)}")
    y2_host = np.empty_like(y_host)
    check_cuda(cudart.cudaMemcpy(y2_host.ctypes.data, y_device, y2_host.nbytes,
                                 cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost))
    passed = check_array("execute_v2", y2_host, expected) and passed
    np.savez(f"{stem}.execute_v2.output.npz", outputT0=y2_host)

    for pointer in (x_device, y_device):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed and addresses_ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
