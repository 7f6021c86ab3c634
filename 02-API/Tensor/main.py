#!/usr/bin/env python3
"""02-API/Tensor: the members of ITensor, printed before and after each setting, and one FP16 output whose
allowed formats are CHW2 or HWC8.

Network: inputT0 [1,4,3,5] float32 -> ReLU -> outputT0, where outputT0 is declared float16 (tensor.dtype) and may
only be delivered in the vectorized formats CHW2 or HWC8 (tensor.allowed_formats). TensorRT picks one of them; the
engine reports which (engine.get_tensor_format, checked to be one of the two), and run_example() binds a buffer
of the size that format needs (with its padding), then converts that layout back to a plain [1,4,3,5] array before
comparing it with numpy. The run block's run_engine() binds plain (LINEAR) buffers only: reading a vectorized
buffer is this example's lesson, so it is written out here.

Members shown: name, shape, dtype, dynamic_range / set_dynamic_range / reset_dynamic_range, allowed_formats,
location, is_network_input / is_network_output, broadcast_across_batch (deprecated).
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

SHAPE = (1, 4, 3, 5)  # N, C, H, W: C = 4 is padded to 2*2 in CHW2 and to 8 in HWC8
# The output is float16; ReLU of multiples of 1/8 below 4 is exact in float16, the tolerance is FP16's.
TOLERANCE = {"rtol": 1e-2, "atol": 1e-2}


def format_names(bits):
    """Decode a TensorFormat bit mask (1 << int(TensorFormat.X) | ...) into the names of its formats."""
    return [name for name, value in sorted(trt.TensorFormat.__members__.items(), key=lambda kv: int(kv[1]))
            if bits & (1 << int(value))]


def describe(tensor, title):
    print(f"--- {title}")
    print(f"  name                   = {tensor.name}")
    print(f"  shape                  = {tensor.shape}")
    print(f"  dtype                  = {tensor.dtype}")
    print(f"  location               = {tensor.location}")
    print(f"  is_network_input       = {tensor.is_network_input}")
    print(f"  is_network_output      = {tensor.is_network_output}")
    print(f"  dynamic_range          = {tensor.dynamic_range}")
    print(f"  allowed_formats        = {tensor.allowed_formats:#x} {format_names(tensor.allowed_formats)}")
    print(f"  broadcast_across_batch = {tensor.broadcast_across_batch}  (deprecated, ignored with explicit batch)")


def build_network(builder, network, config, inputs):
    config.set_flag(trt.BuilderFlag.FP16)  # the output is float16
    x = network.add_input("inputT0", trt.float32, SHAPE)
    relu = network.add_activation(x, trt.ActivationType.RELU)
    y = relu.get_output(0)
    describe(y, "layer output, before anything is set (TensorRT's default name)")

    y.name = "outputT0"  # name: readable and settable
    network.mark_output(y)  # dtype and allowed_formats only count for network inputs and outputs

    # dynamic range: [min, max] used by INT8 without a calibrator (see 02-API/INT8-PTQ); ignored otherwise
    print(f"set_dynamic_range(-4.0, 4.0) returned {y.set_dynamic_range(-4.0, 4.0)}")
    print(f"  dynamic_range after set_dynamic_range = {y.dynamic_range}")
    y.reset_dynamic_range()
    print(f"  dynamic_range after reset_dynamic_range = {y.dynamic_range}")
    y.dynamic_range = (-2.0, 2.0)  # the property accepts a (min, max) pair as well
    print(f"  dynamic_range after 'dynamic_range = (-2.0, 2.0)' = {y.dynamic_range}")
    y.reset_dynamic_range()  # this FP16 example does not use it

    y.dtype = trt.float16
    y.allowed_formats = 1 << int(trt.TensorFormat.CHW2) | 1 << int(trt.TensorFormat.HWC8)
    describe(x, "network input inputT0")
    describe(y, "network output outputT0 after dtype = float16, allowed_formats = CHW2 | HWC8")


def buffer_elements(fmt, shape):
    """Number of float16 values in the output buffer for a [N,C,H,W] tensor in the given format."""
    n, c, h, w = shape
    if fmt == trt.TensorFormat.CHW2:  # [N][ceil(C/2)][H][W][2]
        return n * ((c + 1) // 2) * h * w * 2
    if fmt == trt.TensorFormat.HWC8:  # [N][H][W][ceil(C/8)*8]
        return n * h * w * ((c + 7) // 8) * 8
    return n * c * h * w  # LINEAR


def to_nchw(raw, fmt, shape):
    """Undo the vectorized layout: return the logical [N,C,H,W] array."""
    n, c, h, w = shape
    if fmt == trt.TensorFormat.CHW2:
        groups = (c + 1) // 2
        return raw.reshape(n, groups, h, w, 2).transpose(0, 1, 4, 2, 3).reshape(n, groups * 2, h, w)[:, :c]
    if fmt == trt.TensorFormat.HWC8:
        padded = (c + 7) // 8 * 8
        return raw.reshape(n, h, w, padded)[..., :c].transpose(0, 3, 1, 2)
    return raw.reshape(n, c, h, w)


def run_vectorized(engine, x_host, fmt):
    """Run once; the output buffer is sized for the vectorized format, padding included. Returns it raw."""
    context = engine.create_execution_context()
    print(f"  context.get_tensor_strides('outputT0') = {context.get_tensor_strides('outputT0')}")
    y_raw = np.zeros(buffer_elements(fmt, SHAPE), dtype=np.float16)
    x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
    y_device = check_cuda(cudart.cudaMalloc(y_raw.nbytes))
    check_cuda(cudart.cudaMemset(y_device, 0, y_raw.nbytes))
    context.set_tensor_address("inputT0", x_device)
    context.set_tensor_address("outputT0", y_device)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(y_raw.ctypes.data, y_device, y_raw.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in (x_device, y_device):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return y_raw


def run_example(inputs):
    engine = build_engine(build_network, inputs)
    fmt = engine.get_tensor_format("outputT0")
    print("--- what the engine reports for outputT0")
    print(f"  get_tensor_dtype         = {engine.get_tensor_dtype('outputT0')}")
    print(f"  get_tensor_format        = {fmt}  (TensorRT chose one of the allowed formats)")
    print(f"  get_tensor_format_desc   = {engine.get_tensor_format_desc('outputT0')}")
    print(f"  get_tensor_vectorized_dim = {engine.get_tensor_vectorized_dim('outputT0')}, "
          f"components_per_element = {engine.get_tensor_components_per_element('outputT0')}")
    print(f"  get_tensor_location      = {engine.get_tensor_location('outputT0')}")
    y_raw = run_vectorized(engine, np.ascontiguousarray(inputs["inputT0"]), fmt)
    print(f"raw output buffer in {fmt.name} layout ({y_raw.size} float16 values, padding included):\n{y_raw}")
    return {"outputT0": np.ascontiguousarray(to_nchw(y_raw, fmt, SHAPE)),
            "format_is_chw2_or_hwc8": np.array(fmt in (trt.TensorFormat.CHW2, trt.TensorFormat.HWC8))}


def make_inputs():
    return {"inputT0": ((np.arange(np.prod(SHAPE), dtype=np.float32) - 30) / 8).reshape(SHAPE)}


def reference(inputs):
    """numpy: ReLU(x) as float16 (the engine's output type); the format is one of the two allowed ones."""
    return {"outputT0": np.maximum(inputs["inputT0"], 0).astype(np.float16),
            "format_is_chw2_or_hwc8": np.array(True)}


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
