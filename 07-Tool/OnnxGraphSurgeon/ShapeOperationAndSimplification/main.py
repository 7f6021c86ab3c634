#!/usr/bin/env python3
"""07-Tool/OnnxGraphSurgeon/ShapeOperationAndSimplification: shape computations in an ONNX graph, and how
onnx-graphsurgeon simplifies them away once the shapes are known.

The input data has the shape (A, 3, B, 5), A and B dynamic (named dimensions). Two outputs, made with nodes that
compute on the shape: flattened = Reshape(data, [-1]) and partially_flattened = Reshape(data, Concat(Gather(
Shape(data), [0, 1]), Gather(shape, [2]) * Gather(shape, [3]))), i.e. (A, 3, B*5). model_dynamic.onnx keeps the
shape nodes (onnxruntime runs it for two input shapes, TensorRT builds it with a profile covering the test input).
model_static.onnx is the same graph with a fixed input shape (2, 3, 4, 5): fold_constants() now evaluates Shape
and everything after it, and cleanup() leaves only the two Reshape nodes.
"""
import os
import sys

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import onnxruntime
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 0, "atol": 0}  # Reshape moves values: exact
DYNAMIC, STATIC = "model_dynamic.onnx", "model_static.onnx"


def make_graph(shape):  # shape (A, 3, B, 5): A and B are numbers, or names for dynamic dimensions
    data = gs.Variable("data", np.float32, shape)
    i64 = lambda name, value: gs.Constant(name, np.array(value, np.int64))  # noqa: E731
    shape_t, nc, b, five, hw, new_shape = [gs.Variable(name, np.int64)
                                           for name in ("shape", "NC", "B", "5", "HW", "new_shape")]
    known = all(isinstance(d, int) for d in shape)  # output shapes: numbers, or names for the dynamic dimensions
    flattened = gs.Variable("flattened", np.float32, (int(np.prod(shape)),) if known else ("A*3*B*5",))
    partially = gs.Variable("partially_flattened", np.float32,
                            (shape[0], 3, shape[2] * 5) if known else ("A", 3, "B*5"))
    nodes = [gs.Node("Reshape", "Flatten", inputs=[data, i64("minus_one", [-1])], outputs=[flattened]),
             gs.Node("Shape", "Shape", inputs=[data], outputs=[shape_t]),  # (A, 3, B, 5), INT64
             gs.Node("Gather", "GatherNC", {"axis": 0}, inputs=[shape_t, i64("i01", [0, 1])], outputs=[nc]),
             gs.Node("Gather", "GatherB", {"axis": 0}, inputs=[shape_t, i64("i2", [2])], outputs=[b]),
             gs.Node("Gather", "Gather5", {"axis": 0}, inputs=[shape_t, i64("i3", [3])], outputs=[five]),
             gs.Node("Mul", "MulHW", inputs=[b, five], outputs=[hw]),  # (B*5,)
             gs.Node("Concat", "Concat", {"axis": 0}, inputs=[nc, hw], outputs=[new_shape]),  # (A, 3, B*5)
             gs.Node("Reshape", "PartialFlatten", inputs=[data, new_shape], outputs=[partially])]
    # ir_version=8: fold_constants() runs the graph in onnxruntime, which refuses the onnx package's newer default
    # (seen on the GPU machine: onnx 1.23 writes IR 14, "max supported IR version: 13" says onnxruntime 1.30)
    return gs.Graph(nodes=nodes, inputs=[data], outputs=[flattened, partially], opset=17, ir_version=8)


def run_example(inputs):
    dynamic = save(make_graph(("A", 3, "B", 5)), DYNAMIC)  # named dynamic dimensions (dim_param in the file)
    graph = make_graph(inputs["data"].shape)
    graph.fold_constants().cleanup()  # the input shape is known: Shape -> ... -> Concat become constants
    static = save(graph, STATIC)
    print(f"{DYNAMIC}: {[n.op_type for n in dynamic.graph.node]}\n{STATIC}: {[n.op_type for n in static.graph.node]}")
    print(f"{STATIC}: the second Reshape's shape is now the constant {graph.nodes[-1].inputs[1].values}")
    outputs = {"ops_dynamic": np.array([n.op_type for n in dynamic.graph.node]),
               "ops_static": np.array([n.op_type for n in static.graph.node])}
    other = {"data": np.arange(3 * 3 * 2 * 5, dtype=np.float32).reshape(3, 3, 2, 5)}  # another (A, B)
    outputs["onnxruntime_other_shape"] = np.array(run_onnxruntime(DYNAMIC, other)["partially_flattened"].shape)
    for prefix, result in (("onnxruntime_dynamic", run_onnxruntime(DYNAMIC, inputs)),
                           ("onnxruntime_static", run_onnxruntime(STATIC, inputs)),
                           ("tensorrt_dynamic", run_tensorrt(DYNAMIC, inputs))):
        outputs.update({f"{prefix}_{k}": v for k, v in result.items()})
    return outputs


def make_inputs():
    return {"data": np.random.default_rng(31193).standard_normal((2, 3, 4, 5)).astype(np.float32)}


def reference(inputs):
    data = inputs["data"]
    result = {"ops_dynamic": np.array(["Reshape", "Shape", "Gather", "Gather", "Gather", "Mul", "Concat", "Reshape"]),
              "ops_static": np.array(["Reshape", "Reshape"]),
              "onnxruntime_other_shape": np.array([3, 3, 10], np.int64)}
    for prefix in ("onnxruntime_dynamic", "onnxruntime_static", "tensorrt_dynamic"):
        result[f"{prefix}_flattened"] = data.reshape(-1)
        result[f"{prefix}_partially_flattened"] = data.reshape(2, 3, 20)
    return result


# ==== helpers of the onnx-graphsurgeon lessons: the same in each lesson's script ====
def save(graph, path):
    """gs.Graph -> onnx.ModelProto, checked and saved. IR version 8 belongs to opset 17, the newest opset
    TensorRT 8.6's parser knows (a newer onnx package writes a newer IR version by default)."""
    model = gs.export_onnx(graph)
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return model


def run_onnxruntime(path, inputs):
    """{output name: array} of onnxruntime's CPU run of an ONNX file."""
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {n: inputs[n] for n in names})))


def run_tensorrt(path, inputs):
    """{output name: array} of TensorRT: parse the ONNX file, build in FP32 (TF32 cleared), run once."""
    logger = trt.Logger(trt.Logger.ERROR)

    def build_network(builder, network, config, inputs):
        config.clear_flag(trt.BuilderFlag.TF32)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(path):
            raise RuntimeError(f"{path} did not parse: " + "; ".join(parser.get_error(i).desc()
                                                                     for i in range(parser.num_errors)))
        return parser  # it owns the weights the network uses: alive until the build ends

    return run_engine(build_engine(build_network, inputs, logger), inputs)


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
