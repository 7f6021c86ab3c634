#!/usr/bin/env python3
"""08-Advance/ProblemSolving/SliceBool: slicing a BOOL tensor with dynamic shapes ("requires bool I/O but node can
not be handled by Myelin", reported for TensorRT 8.x builds), and the workaround readers used.

The network is the graph readers reported (a padding mask, sub-sampled twice along time as a strided front end does):
mask = NOT(a > b) [B, T] -> unsqueeze -> [B, 1, T] -> Slice(T: start 0, end T-2, step 2) -> the same Slice again,
with B and T dynamic, so each Slice's size is computed from the input shape (IShapeLayer + elementwise on INT32,
the size tensor given to ISliceLayer.set_input(2, ...)). BOOL is among the types TensorRT's ONNX parser documents
for Slice (onnx-tensorrt's operators.md, e.g. its 8.4 table: FP32, FP16, INT32, INT8, BOOL), and a maintainer
answered the Myelin report (onnx/onnx-tensorrt#832, TensorRT 8.2) that 8.2 should handle BOOL slices; so the
reference is that the BOOL network builds and slices like numpy. run_example():
1. builds the BOOL network by hand (its build may fail), prints every message, runs it. Checked: bool_slice_built
   (True), myelin_error_logged (False) and y_bool against numpy.
2. the workaround: Cast to INT32 before the slices and back to BOOL after (ICastLayer); built with the run block,
   y_via_int32 against numpy.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 0, "atol": 0}  # boolean outputs: compared exactly
SHAPE = (3, 21)  # [B, T] of the run; the profile below covers B 1..8, T 8..64
PROFILE = [(1, 8), (3, 21), (8, 64)]  # min, opt, max
MYELIN_MESSAGE = "can not be handled by Myelin"
MINUS, STEP = np.array([0, 0, -1], dtype=np.int32), np.array([1, 1, 2], dtype=np.int32)  # alive until the builds end


class CollectingLogger(trt.ILogger):
    """Prints TensorRT's warnings and errors and keeps them, so that the script can assert what was logged."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR, trt.ILogger.WARNING):
            self.messages.append(msg)
            print(f"[TRT] {severity.name}: {msg}")


def slice_time_by_2(network, x):
    """ONNX Slice(starts=0, ends=-2, axes=2, steps=2) on x [B, 1, T]: size [B, 1, (T - 1) // 2], from x's shape."""
    shape = network.add_shape(x).get_output(0)  # INT32 [3]: (B, 1, T)
    minus = network.add_constant((3,), trt.Weights(MINUS)).get_output(0)
    step = network.add_constant((3,), trt.Weights(STEP)).get_output(0)
    shifted = network.add_elementwise(shape, minus, trt.ElementWiseOperation.SUM).get_output(0)
    size = network.add_elementwise(shifted, step, trt.ElementWiseOperation.FLOOR_DIV).get_output(0)
    layer = network.add_slice(x, (0, 0, 0), (1, 1, 1), (1, 1, 2))  # the shape (1, 1, 1) is replaced by `size`
    layer.set_input(2, size)
    return layer.get_output(0)


def add_layers(builder, network, config, via_int32):
    """mask = NOT(a > b), unsqueezed, sliced twice; via_int32: the slices run on an INT32 copy (the workaround)."""
    a, b = (network.add_input(name, trt.int32, (-1, -1)) for name in ("a", "b"))
    greater = network.add_elementwise(a, b, trt.ElementWiseOperation.GREATER).get_output(0)  # BOOL
    mask = network.add_unary(greater, trt.UnaryOperation.NOT).get_output(0)
    unsqueeze = network.add_shuffle(mask)
    unsqueeze.reshape_dims = (0, 1, -1)  # [B, T] -> [B, 1, T] (0: copy B)
    x = unsqueeze.get_output(0)
    if via_int32:
        x = network.add_cast(x, trt.int32).get_output(0)
    y = slice_time_by_2(network, slice_time_by_2(network, x))
    if via_int32:
        y = network.add_cast(y, trt.bool).get_output(0)
    y.name = "y_via_int32" if via_int32 else "y_bool"
    network.mark_output(y)
    if via_int32:
        # seen with TensorRT 8.6.0 on an H200: without this line the build fails with "Output tensor y_via_int32 of
        # type Int32 produced from output of incompatible type Bool": the network output keeps the INT32 type. Set
        # after mark_output: before it, 8.6.0 warns "Tensor DataType is determined at build time for tensors not
        # marked as input or output."
        y.dtype = trt.bool
    profile = builder.create_optimization_profile()
    for name in ("a", "b"):
        profile.set_shape(name, *PROFILE)
    config.add_optimization_profile(profile)


def build_network(builder, network, config, inputs):
    """The workaround, for the run block."""
    add_layers(builder, network, config, via_int32=True)


def run_example(inputs):
    logger = CollectingLogger()  # one logger per process: TensorRT keeps the first one it is given
    print("=== BOOL through both slices, dynamic B and T")
    builder = trt.Builder(logger)  # by hand, not with build_engine: this build may fail
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    add_layers(builder, network, config, via_int32=False)
    serialized = builder.build_serialized_network(network, config)
    print(f"build_serialized_network returned {'None' if serialized is None else 'a plan'}")
    outputs = {"bool_slice_built": np.array(serialized is not None),
               "myelin_error_logged": np.array(any(MYELIN_MESSAGE in m for m in logger.messages))}
    if serialized is not None:
        engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
        if engine is None:
            raise RuntimeError("deserialize_cuda_engine failed (see the TensorRT log above)")
        outputs.update(run_engine(engine, inputs))
    print("=== the workaround: Cast to INT32 before the slices, back to BOOL after")
    outputs.update(run_engine(build_engine(build_network, inputs, logger), inputs))
    return outputs


def make_inputs():
    rng = np.random.default_rng(31193)
    return {name: rng.integers(0, 4, SHAPE).astype(np.int32) for name in ("a", "b")}


def reference(inputs):
    """numpy: the mask, unsqueezed, x[:, :, 0:T-2:2] twice (ONNX Slice semantics); the documented support of BOOL
    slices: the build succeeds, no Myelin error."""
    x = np.logical_not(inputs["a"] > inputs["b"])[:, None, :]
    for _ in range(2):
        x = x[:, :, 0:x.shape[2] - 2:2]
    return {"bool_slice_built": np.array(True), "myelin_error_logged": np.array(False),
            "y_bool": x.copy(), "y_via_int32": x.copy()}


# ==== run block: identical in every script that has it (canonical copy: tests/run_block.py) ====
# What sits above this line is the lesson. What follows builds, runs and checks, the same way in every script:
# `python3 tests/sync_blocks.py --write` rewrites every copy from tests/run_block.py, and a CPU test fails when
# a copy drifts. A script defines make_inputs(), reference(inputs), TOLERANCE and either
# build_network(builder, network, config, inputs) or, when its topic needs several builds or an expected
# failure, run_example(inputs) -> {output name: numpy array}. KNOWN_DEVIATIONS (optional) names outputs where
# TensorRT 8.6.0 is known to differ from its documentation: their check passes while the difference persists.


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def needs_profile(network):
    """TensorRT needs an optimization profile for dynamic input shapes and shape-tensor inputs; 8.6.0 also
    refuses to create an execution context for an output whose shape depends on data without one."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    outputs = [network.get_output(i) for i in range(network.num_outputs)]
    return any(t.is_shape_tensor or -1 in tuple(t.shape) for t in inputs) or any(-1 in tuple(t.shape) for t in outputs)


def build_engine(build_network, inputs, logger=None):
    """Builder, network and config; build_network() adds the layers; build, then deserialize the plan.

    Without a profile from build_network() where one is needed, one is added that covers exactly `inputs`.
    """
    logger = logger or trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    keep_alive = build_network(builder, network, config, inputs)  # numpy weights must live until the build ends
    if config.num_optimization_profiles == 0 and needs_profile(network):
        profile = builder.create_optimization_profile()
        for tensor in (network.get_input(i) for i in range(network.num_inputs)):
            value = np.asarray(inputs[tensor.name])
            if tensor.is_shape_tensor:  # the range of its values, not of its shape
                profile.set_shape_input(tensor.name, *[tuple(int(v) for v in value.ravel())] * 3)
            if -1 in tuple(tensor.shape) or not tensor.is_shape_tensor:  # static shapes too: a profile names all
                profile.set_shape(tensor.name, *[value.shape] * 3)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    del keep_alive
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed (see the TensorRT log above)")
    return engine


class OutputAllocator(trt.IOutputAllocator):
    """Device memory for an output whose shape is known only during enqueue (NonZero, NMS, ...)."""

    def __init__(self):
        trt.IOutputAllocator.__init__(self)
        self.address, self.size, self.shape = 0, 0, None

    def reallocate_output(self, tensor_name, memory, size, alignment):
        if size > self.size:
            if self.address:
                check_cuda(cudart.cudaFree(self.address))
            self.address, self.size = check_cuda(cudart.cudaMalloc(size)), size
        return self.address

    def notify_shape(self, tensor_name, shape):
        self.shape = tuple(shape)


def run_engine(engine, inputs, profile_index=0):
    """Bind every I/O tensor by name, run once with execute_async_v3, return {output name: numpy array}."""
    context = engine.create_execution_context()
    if context is None:
        raise RuntimeError("create_execution_context failed (see the TensorRT log above)")
    stream = check_cuda(cudart.cudaStreamCreate())
    if profile_index:
        context.set_optimization_profile_async(profile_index, int(stream))
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device, allocators = {}, {}, {}

    def bind(name, shape):  # host array + its address for TensorRT: on the GPU, or in host memory (shape tensors)
        if name not in host:
            host[name] = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        if engine.get_tensor_location(name) == trt.TensorLocation.HOST:
            context.set_tensor_address(name, host[name].ctypes.data)
        else:
            device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
            context.set_tensor_address(name, device[name])

    for name in input_names:
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        if -1 in tuple(engine.get_tensor_shape(name)):  # only dynamic dimensions need a run-time shape
            context.set_input_shape(name, host[name].shape)
        bind(name, host[name].shape)
    for name in output_names:  # shapes are known once every input shape and shape-tensor value is set
        shape = tuple(context.get_tensor_shape(name))
        if -1 in shape:  # data-dependent: TensorRT asks the allocator for memory during enqueue
            allocators[name] = OutputAllocator()
            if not context.set_output_allocator(name, allocators[name]):
                raise RuntimeError(f"set_output_allocator({name}) failed")
        else:
            bind(name, shape)
    for name in input_names:
        if name in device:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed (see the TensorRT log above)")
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for name, allocator in allocators.items():  # the shape is known now
        host[name] = np.empty(allocator.shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        device[name] = allocator.address
    for name in output_names:
        if name in device and host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in device.values():
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return {name: host[name] for name in output_names}


def check_outputs(outputs, expected):
    """Compare each output with the reference: shape, dtype, then values (floats within the output's tolerance,
    TOLERANCE[name] or TOLERANCE; integers and booleans exactly). Prints one `check result` line per output."""
    passed = True
    for name, want in expected.items():
        got = outputs.get(name)
        tolerance = TOLERANCE.get(name, {"rtol": TOLERANCE["rtol"], "atol": TOLERANCE["atol"]})
        if got is None or got.shape != want.shape or got.dtype != want.dtype:
            found = "missing" if got is None else f"{got.shape} {got.dtype}"
            print(f"check result: False, {name}: got {found}, expected {want.shape} {want.dtype}")
            passed = False
            continue
        if want.dtype.kind in "fc":
            error = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
            same = bool(np.allclose(got, want, equal_nan=True, **tolerance))
            detail = f"max abs error = {error:.3e} (rtol={tolerance['rtol']}, atol={tolerance['atol']})"
        else:
            same = bool(np.array_equal(got, want))
            detail = f"{int(np.sum(got != want))} of {want.size} elements differ (exact comparison)"
        deviation = globals().get("KNOWN_DEVIATIONS", {}).get(name)
        if deviation:  # the documented result is the reference; TensorRT 8.6.0 is known to give another
            print(f"check result: {not same}, {name}: known deviation of TensorRT 8.6.0 still present: {not same},"
                  f" {detail}\n  {deviation}")
            if same:
                print(f"  TensorRT now follows its documentation here: remove {name} from KNOWN_DEVIATIONS")
            passed = passed and not same
        else:
            print(f"check result: {same}, {name}: {detail}")
            passed = passed and same
    return passed


def main():
    np.set_printoptions(precision=4, linewidth=120, suppress=True)
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"input {name} {value.shape} {value.dtype}:\n{value}")
    if "run_example" in globals():
        outputs = run_example(inputs)
    else:
        outputs = run_engine(build_engine(build_network, inputs), inputs)
    expected = reference(inputs)
    for name in expected:
        if name in outputs:
            print(f"output {name} {outputs[name].shape} {outputs[name].dtype}:\n{outputs[name]}")
    passed = check_outputs(outputs, expected)
    stem = os.path.splitext(os.path.basename(__file__))[0]
    np.savez(f"{stem}.output.npz", **{name: outputs[name] for name in expected if name in outputs})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
