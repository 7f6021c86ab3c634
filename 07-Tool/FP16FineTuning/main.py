#!/usr/bin/env python3
"""07-Tool/FP16FineTuning / main.py: find the layers that FP16 breaks, pin them to FP32, show the error before/after.

Network: h = x @ W, y = h / ||32 h|| (Scale, Square, ReduceSum over axis 1, Sqrt, Div), x [4,256], W [256,256]. The
sum of squares is about 256 * 32^2 = 262,000: more than float16's largest value, 65,504.
1. Layer by layer: every layer's output marked as a network output, one engine in FP32 (TF32 cleared), one with every
   layer constrained to FP16 (layer.precision, set_output_type, OBEY_PRECISION_CONSTRAINTS); a layer is a culprit
   when its output differs by more than 1 % although its inputs did not. Pin the culprits to FP32 and compare again,
   until no layer is left: ReduceSum (its output overflows), then Sqrt (its input, in FP16, overflows).
2. The real engines (no extra outputs): all FP16 (before) and FP16 except the culprits (after), against numpy.
"""
import functools
import json
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

SCALE, N, D = 32.0, 4, 256
W = (np.random.default_rng(1616).standard_normal((D, D)) / np.sqrt(D)).astype(np.float32)  # h ~ N(0, 1)
TOLERANCE = {"rtol": 1e-2, "atol": 1e-4}  # FP16 where allowed; y is about h / 512
RELATIVE_ERROR_LIMIT = 1e-2  # per tensor: max |fp16 - fp32| / max |fp32|


def build_network(builder, network, config, inputs, fp16=False, fp32_layers=(), mark_all=False):
    config.clear_flag(trt.BuilderFlag.TF32)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    x = network.add_input("x", trt.float32, (N, D))
    w = network.add_constant((D, D), trt.Weights(W))
    scale = network.add_constant((1, 1), trt.Weights(np.array([[SCALE]], np.float32)))
    h = network.add_matrix_multiply(x, trt.MatrixOperation.NONE, w.get_output(0), trt.MatrixOperation.NONE)
    t = network.add_elementwise(h.get_output(0), scale.get_output(0), trt.ElementWiseOperation.PROD)
    square = network.add_elementwise(t.get_output(0), t.get_output(0), trt.ElementWiseOperation.PROD)
    total = network.add_reduce(square.get_output(0), trt.ReduceOperation.SUM, 1 << 1, True)
    norm = network.add_unary(total.get_output(0), trt.UnaryOperation.SQRT)
    y = network.add_elementwise(h.get_output(0), norm.get_output(0), trt.ElementWiseOperation.DIV)
    layers = {"MatMul": h, "Scale": t, "Square": square, "ReduceSum": total, "Sqrt": norm, "Div": y}
    for name, layer in layers.items():
        layer.name = name
        layer.get_output(0).name = "y" if name == "Div" else name
        if mark_all or name == "Div":
            network.mark_output(layer.get_output(0))
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)  # without it, precisions are only hints
        for name, layer in layers.items():
            precision = trt.float32 if name in fp32_layers else trt.float16
            layer.precision = precision  # the precision the layer computes in
            layer.set_output_type(0, precision)  # the type of its output (network outputs stay float32 bindings)
    return W


def layer_errors(reference32, outputs16):
    """{layer: relative error of its output} in network order."""
    return {name: float(np.max(np.abs(outputs16[name].astype(np.float64) - ref)) / np.max(np.abs(ref)))
            if np.all(np.isfinite(outputs16[name])) else float("inf")
            for name, ref in reference32.items()}


def run_example(inputs):
    build = functools.partial(build_engine, inputs=inputs)
    names = ["MatMul", "Scale", "Square", "ReduceSum", "Sqrt", "Div"]
    fp32 = run_engine(build(functools.partial(build_network, mark_all=True)), inputs)
    fp32 = {name: fp32["y" if name == "Div" else name] for name in names}
    culprits, first_y = [], None
    for round_ in range(len(names)):
        fp16 = run_engine(build(functools.partial(build_network, fp16=True, fp32_layers=culprits, mark_all=True)),
                          inputs)
        first_y = fp16["y"] if first_y is None else first_y  # round 0: every layer in FP16
        errors = layer_errors(fp32, {name: fp16["y" if name == "Div" else name] for name in names})
        print(f"round {round_}, FP32 layers {culprits}:\n" + "\n".join(f"  {n:9s} {e:.3e}" for n, e in errors.items()))
        # the first layer whose output is off while the layer before it was fine (each layer reads the one before)
        bad = [n for i, n in enumerate(names) if errors[n] > RELATIVE_ERROR_LIMIT
               and (i == 0 or errors[names[i - 1]] <= RELATIVE_ERROR_LIMIT)]
        if not bad:
            break
        culprits.append(bad[0])
    print(f"layers pinned to FP32: {culprits}")
    before = run_engine(build(functools.partial(build_network, fp16=True)), inputs)["y"]
    engine = build(functools.partial(build_network, fp16=True, fp32_layers=culprits))
    formats = engine_formats(engine)
    after = run_engine(engine, inputs)["y"]
    ref = reference(inputs)["y_after"].astype(np.float64)
    for label, y in (("before, layer by layer (round 0)", first_y), ("before, all-FP16 engine (printed only: fused "
                                                                     "layers may keep the sum in FP32)", before),
                     ("after", after)):
        print(f"{label}: max abs error {np.max(np.abs(y - ref)):.3e}, all finite {bool(np.all(np.isfinite(y)))}")
    mixed = (any("FP16" in f or "Half" in f for f in formats["MatMul"]) and len(formats["ReduceSum"]) > 0
             and all("FP32" in f or "Float" in f for f in formats["ReduceSum"]))
    print(f"engine inspector: MatMul outputs FP16 and ReduceSum outputs FP32: {mixed} (printed, not asserted: a layer"
          " fused with others may not show its own format)")
    return {"y_after": after, "culprits": np.array(culprits),
            "error_before_too_large": np.array(not np.allclose(first_y, ref, rtol=1e-2, atol=1e-4))}


def make_inputs():
    return {"x": np.random.default_rng(6161).standard_normal((N, D)).astype(np.float32)}


def reference(inputs):
    h = inputs["x"].astype(np.float64) @ W.astype(np.float64)
    y = h / np.sqrt(np.sum((SCALE * h) ** 2, axis=1, keepdims=True))
    # in float16 the sum of squares (about 262,000) is inf: the ReduceSum overflows, then the Sqrt's input does
    return {"y_after": y.astype(np.float32), "culprits": np.array(["ReduceSum", "Sqrt"]),
            "error_before_too_large": np.array(True)}


def engine_formats(engine):
    """{network layer name: output formats of the engine layers computing it}, from the engine inspector (DETAILED)."""
    inspector = engine.create_engine_inspector()
    info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON), strict=False)
    del inspector
    found = {}
    for layer in info["Layers"]:
        if isinstance(layer, dict) and not layer.get("Name", "").startswith("Reformatting"):
            for name in ("MatMul", "ReduceSum"):
                if name in layer.get("Name", ""):
                    found.setdefault(name, []).extend(io.get("Format/Datatype", "") for io in layer.get("Outputs", []))
    print(f"engine inspector, output formats: {found}")
    return {name: found.get(name, []) for name in ("MatMul", "ReduceSum")}


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
