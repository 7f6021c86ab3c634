#!/usr/bin/env python3
"""02-API/BindingAPI: the binding-index API of TensorRT 7 / 8 (what the course slides use), deprecated since 8.5,
next to the tensor-name API that replaces it. Do not write new code with it: TensorRT 10 removed it.

A binding is an I/O tensor of one optimization profile, known by its index: an engine with K profiles has
num_bindings = K * num_io_tensors bindings. The old API asks by index (get_binding_name(i), binding_is_input(i),
get_binding_shape(i), get_binding_dtype(i), get_binding_index(name)), sets run-time shapes by index
(context.set_binding_shape(i, shape), context.get_binding_shape(i)) and runs with a list of device addresses in
binding order (context.execute_v2(bindings), synchronous; execute_v2 itself is not deprecated in 8.6).
Network: inputT0 [-1,4] (profile 1..8 rows) -> ReLU -> outputT0, and inputT0 * 2 -> outputT1.
Checked: every binding query agrees with its tensor-name counterpart (get_tensor_name / get_tensor_mode /
get_tensor_shape / get_tensor_dtype), all_binding_shapes_specified is True after set_binding_shape, and the two
outputs of the run with the old API against numpy. Python prints a DeprecationWarning for each deprecated call.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32: a ReLU and a product by 2 are exact
TWO = np.array([2], dtype=np.float32)  # the constant's weights: module level, alive until the build ends


def build_network(builder, network, config, inputs):
    x = network.add_input("inputT0", trt.float32, (-1, 4))
    profile = builder.create_optimization_profile()
    profile.set_shape("inputT0", (1, 4), (2, 4), (8, 4))
    config.add_optimization_profile(profile)
    relu = network.add_activation(x, trt.ActivationType.RELU)
    relu.get_output(0).name = "outputT0"
    network.mark_output(relu.get_output(0))
    two = network.add_constant((1, 1), TWO)
    prod = network.add_elementwise(x, two.get_output(0), trt.ElementWiseOperation.PROD)
    prod.get_output(0).name = "outputT1"
    network.mark_output(prod.get_output(0))


def compare_queries(engine):
    """Each binding query next to the tensor-name query that replaces it; True when they all agree."""
    print(f"engine.num_bindings = {engine.num_bindings} (deprecated) = num_io_tensors {engine.num_io_tensors} "
          f"x num_optimization_profiles {engine.num_optimization_profiles}")
    agree = engine.num_bindings == engine.num_io_tensors * engine.num_optimization_profiles
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        index = engine.get_binding_index(name)  # deprecated
        old = (engine.get_binding_name(index), engine.binding_is_input(index), tuple(engine.get_binding_shape(index)),
               engine.get_binding_dtype(index))  # deprecated, all four
        new = (name, engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT, tuple(engine.get_tensor_shape(name)),
               engine.get_tensor_dtype(name))
        print(f"  get_tensor_name({i}) = {name!r}: get_binding_index = {index}; (name, is input, shape, dtype): "
              f"binding API {old}, tensor API {new}")
        agree = agree and old == new
    print(f"  engine.get_profile_shape(0, 'inputT0') = {engine.get_profile_shape(0, 'inputT0')} (deprecated), "
          f"engine.get_tensor_profile_shape('inputT0', 0) = {engine.get_tensor_profile_shape('inputT0', 0)}")
    return agree


def run_with_bindings(engine, x_host):
    """The old way: a shape set by binding index, a list of device addresses in binding order, execute_v2."""
    context = engine.create_execution_context()
    print(f"all_binding_shapes_specified before set_binding_shape: {context.all_binding_shapes_specified}")
    accepted = context.set_binding_shape(engine.get_binding_index("inputT0"), x_host.shape)  # deprecated
    specified = context.all_binding_shapes_specified
    print(f"set_binding_shape(index of inputT0, {x_host.shape}) returned {accepted}; "
          f"all_binding_shapes_specified: {specified}")
    host, bindings = {}, []
    for i in range(engine.num_bindings):
        name = engine.get_binding_name(i)
        if engine.binding_is_input(i):
            host[name] = np.ascontiguousarray(x_host, dtype=trt.nptype(engine.get_binding_dtype(i)))
        else:  # context.get_binding_shape(i): the output shape for the shapes set so far
            host[name] = np.empty(tuple(context.get_binding_shape(i)), dtype=trt.nptype(engine.get_binding_dtype(i)))
        bindings.append(check_cuda(cudart.cudaMalloc(host[name].nbytes)))
        print(f"  binding {i}: {name}, {'input ' if engine.binding_is_input(i) else 'output'} {host[name].shape}")
    check_cuda(cudart.cudaMemcpy(bindings[engine.get_binding_index("inputT0")], host["inputT0"].ctypes.data,
                                 host["inputT0"].nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
    print(f"context.execute_v2(bindings) returned {context.execute_v2(bindings)}")  # synchronous
    for name in ("outputT0", "outputT1"):
        check_cuda(cudart.cudaMemcpy(host[name].ctypes.data, bindings[engine.get_binding_index(name)],
                                     host[name].nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost))
    for pointer in bindings:
        check_cuda(cudart.cudaFree(pointer))
    return {"outputT0": host["outputT0"], "outputT1": host["outputT1"],
            "all_binding_shapes_specified": np.array(bool(accepted and specified))}


def run_example(inputs):
    engine = build_engine(build_network, inputs)  # building is the same with either API
    agree = compare_queries(engine)
    outputs = run_with_bindings(engine, inputs["inputT0"])
    outputs["binding_queries_agree"] = np.array(bool(agree))
    return outputs


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"inputT0": rng.standard_normal((3, 4)).astype(np.float32)}


def reference(inputs):
    x = inputs["inputT0"]
    # NvInferRuntime.h: the binding queries are the deprecated forms of the name-based ones, and
    # allInputDimensionsSpecified is true once setBindingDimensions has set every dynamic input
    return {"outputT0": np.maximum(x, 0).astype(np.float32), "outputT1": (x * 2).astype(np.float32),
            "binding_queries_agree": np.array(True), "all_binding_shapes_specified": np.array(True)}


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
