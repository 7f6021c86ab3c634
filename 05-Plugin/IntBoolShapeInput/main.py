#!/usr/bin/env python3
"""05-Plugin/IntBoolShapeInput: plugins with INT32 inputs and outputs, BOOL tensors, and shape tensors.

IntBoolPlugins.so holds two plugins. run_example():
1. MaskedFill: data [4, 6] FLOAT, mask [4, 6] BOOL, length [4] INT32 -> filled [4, 6] FLOAT (value -1 where the mask
   is set or the position is past the row's length), kept [4] INT32 (elements kept per row). The BOOL mask goes
   through network.add_cast(mask, trt.int32) first: PluginTensorDesc's documentation says "DataType:kBOOL and
   DataType::kUINT8 are not supported" for plugins. Checked exactly against numpy (filled, kept).
2. The same plugin told to take the BOOL mask directly (field bool_mask = 1, supportsFormatCombination accepts
   kBOOL), built by hand. Documented: refused (PluginTensorDesc). Seen with TensorRT 8.6.0 on an H200: it builds,
   without an error: bool_mask_refused is a KNOWN_DEVIATION; the engine is then run and its output checked like
   case 1's (filled_bool_mask: a BOOL element is one byte, which is what the kernel reads with bool_mask = 1).
3. ShapeEcho on a shape tensor: network.add_shape(x) (INT32 [2]) -> plugin -> output. The plugin gets the values
   only in enqueue, in device memory, like any input; getOutputDimensions sees their dimensions ([2]), never the
   values. One engine (x dynamic), run at (3, 5) and (6, 2): checked exactly (shape_values, shape_values_B).
4. The plugin's output used as a shape (the reshape dimensions of a shuffle layer), built by hand. NvInfer.h,
   IShuffleLayer: the second input "must be a 1D Int32 shape tensor", and a plugin's outputs are execution tensors
   (TensorRT computes shapes without running plugins): documented, refused. Seen with TensorRT 8.6.0 on an H200: it
   builds, without an error: plugin_output_as_shape_refused is a KNOWN_DEVIATION. Whether an execution context can
   be created for that engine is printed and saved (plugin_output_as_shape_runs, not compared: the documentation
   says no such engine exists; seen with 8.6.0 on an H200: no, create_execution_context fails with an internal
   error). Where one can, the engine is run and its output (reshaped_by_plugin) printed and saved, unchecked.
"""
import ctypes
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 0.0, "atol": 0.0}  # filled is a selection: exact; integers and booleans are exact anyway
PLUGIN_LIBRARY = "./IntBoolPlugins.so"  # built by `make`
FILL_VALUE = -1.0
KNOWN_DEVIATIONS = {
    "bool_mask_refused": "TensorRT 8.6.0 builds a plugin with a BOOL input (documented: kBOOL is not supported)",
    "plugin_output_as_shape_refused": "TensorRT 8.6.0 builds a shuffle whose reshape dimensions are a plugin's output "
                                      "(documented: they must be a shape tensor)",
}


class CollectingLogger(trt.ILogger):
    def __init__(self):
        trt.ILogger.__init__(self)
        self.errors = []

    def log(self, severity, msg):
        if int(severity) <= int(trt.ILogger.Severity.ERROR):
            self.errors.append(msg)
            print(f"  [TRT] {severity.name}: {msg}")


def create(name, fields=()):
    creator = trt.get_plugin_registry().get_plugin_creator(name, "1", "")
    if creator is None:
        raise RuntimeError(f"no creator {name} version 1: was {PLUGIN_LIBRARY} loaded?")
    return creator.create_plugin(name, trt.PluginFieldCollection(list(fields)))


def masked_fill(bool_mask):
    return create("MaskedFill", [
        trt.PluginField("value", np.array([FILL_VALUE], dtype=np.float32), trt.PluginFieldType.FLOAT32),
        trt.PluginField("bool_mask", np.array([int(bool_mask)], dtype=np.int32), trt.PluginFieldType.INT32)])


def build_masked_fill(builder, network, config, inputs):
    data = network.add_input("data", trt.float32, inputs["data"].shape)
    mask = network.add_input("mask", trt.bool, inputs["mask"].shape)
    length = network.add_input("length", trt.int32, inputs["length"].shape)
    mask_int = network.add_cast(mask, trt.int32).get_output(0)  # BOOL -> INT32 before the plugin
    layer = network.add_plugin_v2([data, mask_int, length], masked_fill(bool_mask=False))
    for i, name in enumerate(("filled", "kept")):
        layer.get_output(i).name = name
        network.mark_output(layer.get_output(i))


def build_shape_echo(builder, network, config, inputs):
    x = network.add_input("x", trt.float32, (-1, -1))
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 1), inputs["x"].shape, (8, 8))
    config.add_optimization_profile(profile)
    shape = network.add_shape(x).get_output(0)  # INT32 [2]
    layer = network.add_plugin_v2([shape], create("ShapeEcho"))
    layer.get_output(0).name = "shape_values"
    network.mark_output(layer.get_output(0))


def build_by_hand(make_network):
    """Builds the network make_network(...) makes, by hand (a refusal is expected): (refused, engine or None).
    Refused: TensorRT logged an error or gave no plan (the error may come while the network is made, e.g. from
    add_plugin_v2 or set_input)."""
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    make_network(builder, network, config)
    serialized = builder.build_serialized_network(network, config)
    print(f"  build_serialized_network returned {serialized}; {len(logger.errors)} errors logged")
    if serialized is None or logger.errors:
        return True, None
    return False, trt.Runtime(logger).deserialize_cuda_engine(serialized)


def bool_mask_direct(builder, network, config):
    data = network.add_input("data", trt.float32, (4, 6))
    mask = network.add_input("mask", trt.bool, (4, 6))
    length = network.add_input("length", trt.int32, (4,))
    layer = network.add_plugin_v2([data, mask, length], masked_fill(bool_mask=True))
    print(f"  add_plugin_v2 with a BOOL input returned {layer}")
    if layer is not None:
        layer.get_output(0).name = "filled"
        network.mark_output(layer.get_output(0))


def plugin_output_as_shape(builder, network, config):
    x = network.add_input("x", trt.float32, (3, 5))
    echo = network.add_plugin_v2([network.add_shape(x).get_output(0)], create("ShapeEcho"))
    shuffle = network.add_shuffle(x)
    shuffle.set_input(1, echo.get_output(0))  # the reshape dimensions from the plugin's output
    shuffle.get_output(0).name = "reshaped"
    network.mark_output(shuffle.get_output(0))


def run_example(inputs):
    ctypes.CDLL(os.path.abspath(PLUGIN_LIBRARY), mode=ctypes.RTLD_GLOBAL)
    print("=== 1. MaskedFill: FLOAT data, BOOL mask cast to INT32, INT32 lengths -> FLOAT, INT32")
    outputs = run_engine(build_engine(build_masked_fill, inputs), inputs)
    print("=== 2. MaskedFill taking the BOOL mask directly (documented: refused)")
    refused, engine = build_by_hand(bool_mask_direct)
    outputs["bool_mask_refused"] = np.array(refused)
    if engine is not None:  # built anyway: run it
        print(f"  built: input mask is {engine.get_tensor_dtype('mask')}; running it")
        outputs["filled_bool_mask"] = run_engine(engine, {name: inputs[name] for name in ("data", "mask", "length")})[
            "filled"]
    print("=== 3. ShapeEcho: the values of a shape tensor, in the plugin, at two shapes of x")
    engine = build_engine(build_shape_echo, inputs)
    outputs["shape_values"] = run_engine(engine, {"x": inputs["x"]})["shape_values"]
    outputs["shape_values_B"] = run_engine(engine, {"x": inputs["x_B"]})["shape_values"]
    print("=== 4. the plugin's output as the shape of a shuffle layer (documented: refused)")
    refused, engine = build_by_hand(plugin_output_as_shape)
    outputs["plugin_output_as_shape_refused"] = np.array(refused)
    if engine is not None:  # built anyway: can it run?
        print(f"  built: output reshaped has the shape {tuple(engine.get_tensor_shape('reshaped'))} in the engine")
        context = engine.create_execution_context()  # seen with 8.6.0 on an H200: None, after an internal error
        outputs["plugin_output_as_shape_runs"] = np.array(context is not None)
        print(f"  create_execution_context returned {context}")
        if context is not None:
            del context
            outputs["reshaped_by_plugin"] = run_engine(engine, {"x": inputs["x"]})["reshaped"]
            print(f"  reshaped by the plugin's output: {outputs['reshaped_by_plugin'].shape}")
    return outputs


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"data": rng.standard_normal((4, 6)).astype(np.float32),
            "mask": rng.random((4, 6)) < 0.3,
            "length": np.array([6, 3, 0, 5], dtype=np.int32),
            "x": rng.standard_normal((3, 5)).astype(np.float32), "x_B": np.zeros((6, 2), dtype=np.float32)}


def reference(inputs):
    fill = inputs["mask"] | (np.arange(inputs["data"].shape[1])[None, :] >= inputs["length"][:, None])
    return {"filled": np.where(fill, np.float32(FILL_VALUE), inputs["data"]).astype(np.float32),
            "kept": (~fill).sum(axis=1).astype(np.int32),
            "bool_mask_refused": np.array(True),  # PluginTensorDesc: "kBOOL and kUINT8 are not supported"
            "filled_bool_mask": np.where(fill, np.float32(FILL_VALUE), inputs["data"]).astype(np.float32),
            "shape_values": np.array(inputs["x"].shape, dtype=np.int32),
            "shape_values_B": np.array(inputs["x_B"].shape, dtype=np.int32),
            "plugin_output_as_shape_refused": np.array(True)}  # IShuffleLayer: input 1 "must be a shape tensor"


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
