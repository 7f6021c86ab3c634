#!/usr/bin/env python3
"""04-BuildEngineByONNXParser/ParserErrors: an ONNX model TensorRT 8.6's parser refuses, its exact errors, and the
repair with onnx-graphsurgeon.

The model is a classifier head: scores = x @ W + b, onehot = Hardmax(scores, axis=1) (a one-hot of each row's
maximum). Hardmax is a standard ONNX operator (opset 1, 11, 13), but TensorRT's ONNX parser has no importer for it
before TensorRT 9.2: the parser tries a plugin of that name, finds none, and refuses the node. It is made with the
onnx helper API (torch has no operator that exports to Hardmax), opset 17. run_example():
1. parses it: parse() returns False; every recorded error is printed with code(), node(), desc(), file(), line(),
   func(). Checked: one error, UNSUPPORTED_NODE (8), on node 2 (the Hardmax), its description names the missing
   plugin ("Plugin not found").
2. repairs it with onnx-graphsurgeon: the Hardmax node is replaced by ReduceMax (keepdims) -> Equal -> Cast(FLOAT),
   operators the parser imports; onnxruntime runs the original and the repaired file, which must agree exactly.
3. parses, builds (FP32, TF32 cleared) and runs the repaired model: its scores and onehot outputs are checked against
   onnxruntime's run of the original model (the reference: the ONNX semantics of Hardmax, on the CPU).
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 (TF32 cleared); onehot holds 0.0 and 1.0
REFERENCE_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # onnxruntime on another CPU
ORIGINAL, REPAIRED = "hardmax.onnx", "hardmax_repaired.onnx"
FEATURES, CLASSES = 16, 10
UNSUPPORTED_NODE = 8  # int(trt.ErrorCode.UNSUPPORTED_NODE): nvonnxparser::ErrorCode::kUNSUPPORTED_NODE
HARDMAX_NODE = 2  # the index of the Hardmax node in the graph (MatMul 0, Add 1, Hardmax 2)


def make_model():
    """The ONNX model with a Hardmax node (onnx helper API), opset 17, IR version 8, dynamic batch."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w, b = make_weights()
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"], name="MatMul"),
             helper.make_node("Add", ["xw", "b"], ["scores"], name="Add"),
             helper.make_node("Hardmax", ["scores"], ["onehot"], name="Hardmax", axis=1)]
    graph = helper.make_graph(nodes, "classifier_head",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", CLASSES]),
                               helper.make_tensor_value_info("onehot", TensorProto.FLOAT, ["batch", CLASSES])],
                              [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="trt-cookbook")
    model.ir_version = 8  # the IR version of opset 17, the newest TensorRT 8.6's parser was built for
    onnx.checker.check_model(model)
    return model


def repair(model):
    """onnx-graphsurgeon: each Hardmax(x, axis) becomes Cast(Equal(x, ReduceMax(x, axes=[axis], keepdims=1)), FLOAT):
    1.0 where x equals its row's maximum, else 0.0. (Hardmax marks only the first of several equal maxima, this
    replacement marks all of them; the scores here have no ties.)"""
    import onnx
    import onnx_graphsurgeon as gs

    graph = gs.import_onnx(model)
    for node in [n for n in graph.nodes if n.op == "Hardmax"]:
        x, onehot = node.inputs[0], node.outputs[0]
        row_max = gs.Variable(f"{node.name}/row_max", dtype=np.float32)
        is_max = gs.Variable(f"{node.name}/is_max", dtype=np.bool_)
        graph.nodes += [
            gs.Node("ReduceMax", f"{node.name}/ReduceMax", {"axes": [node.attrs.get("axis", -1)], "keepdims": 1},
                    [x], [row_max]),  # opset 17: axes is an attribute (an input from opset 18 on)
            gs.Node("Equal", f"{node.name}/Equal", inputs=[x, row_max], outputs=[is_max]),
            gs.Node("Cast", f"{node.name}/Cast", {"to": onnx.TensorProto.FLOAT}, [is_max], [onehot])]
        node.outputs.clear()  # the Hardmax no longer feeds anything: cleanup() removes it
    graph.cleanup().toposort()
    repaired = gs.export_onnx(graph)
    repaired.ir_version = 8
    onnx.checker.check_model(repaired)
    print(f"repaired: {[n.op_type for n in model.graph.node]} -> {[n.op_type for n in repaired.graph.node]}")
    return repaired


def parse_and_report(path, logger):
    """Parse `path` into a fresh network; print every error; return (parsed, [(code, node, desc)])."""
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    print(f"parser.supports_operator('Hardmax') = {parser.supports_operator('Hardmax')}")
    with open(path, "rb") as f:
        parsed = parser.parse(f.read())
    print(f"parser.parse({path}) = {parsed}, parser.num_errors = {parser.num_errors}")
    errors = []
    for i in range(parser.num_errors):
        error = parser.get_error(i)
        print(f"  get_error({i}): code() = {error.code()} ({int(error.code())}), node() = {error.node()}\n"
              f"    desc() = {error.desc()}\n    file() = {error.file()}, line() = {error.line()}, "
              f"func() = {error.func()}")
        errors.append((int(error.code()), error.node(), error.desc()))
    return parsed, errors


def parse_repaired(logger):
    """A build_network() for the run block: the repaired model, FP32 (TF32 cleared)."""
    def build_network(builder, network, config, inputs):
        config.clear_flag(trt.BuilderFlag.TF32)
        parser = trt.OnnxParser(network, logger)
        with open(REPAIRED, "rb") as f:
            if not parser.parse(f.read()):
                for i in range(parser.num_errors):
                    print(f"parser error {i}: code {parser.get_error(i).code()}: {parser.get_error(i).desc()}")
                raise RuntimeError(f"{REPAIRED} did not parse")
        print(f"parsed {REPAIRED}: " + ", ".join(f"{network.get_layer(i).type.name}"
                                                  for i in range(network.num_layers)))
        return parser  # it owns the weights the network uses: alive until the build ends
    return build_network


def run_example(inputs):
    import onnx

    logger = trt.Logger(trt.Logger.WARNING)
    original = make_model()
    onnx.save(original, ORIGINAL)
    print(f"=== {ORIGINAL}: {[n.op_type for n in original.graph.node]}")
    parsed, errors = parse_and_report(ORIGINAL, logger)
    outputs = {"original_parsed": np.array(parsed),
               "original_error_codes": np.array([code for code, _, _ in errors], dtype=np.int32),
               "original_error_nodes": np.array([node for _, node, _ in errors], dtype=np.int32),
               "original_plugin_not_found": np.array(any("Plugin not found" in desc for _, _, desc in errors))}
    print(f"=== the repair with onnx-graphsurgeon -> {REPAIRED}")
    onnx.save(repair(original), REPAIRED)
    before, after = onnxruntime_outputs(ORIGINAL, inputs), onnxruntime_outputs(REPAIRED, inputs)
    outputs["repair_matches_onnxruntime"] = np.array(all(np.array_equal(before[k], after[k]) for k in before))
    print(f"onnxruntime: the repaired model gives the original's outputs: {outputs['repair_matches_onnxruntime']}")
    print(f"=== {REPAIRED}: parse, build, run")
    outputs.update(run_engine(build_engine(parse_repaired(logger), inputs, logger), inputs))
    return outputs


def onnxruntime_outputs(path, inputs):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))


def make_weights():
    rng = np.random.default_rng(31193)
    return rng.standard_normal((FEATURES, CLASSES)).astype(np.float32), rng.standard_normal(CLASSES).astype(np.float32)


def make_inputs():
    return {"x": np.random.default_rng(7).standard_normal((6, FEATURES)).astype(np.float32)}


def reference(inputs):
    """onnxruntime's run of the original model (Hardmax as ONNX defines it), and the documented failure: one
    UNSUPPORTED_NODE error on the Hardmax node, from the parser's plugin fallback."""
    import onnx

    onnx.save(make_model(), ORIGINAL)  # reference() runs in a temporary copy of this folder
    result = onnxruntime_outputs(ORIGINAL, inputs)
    result.update({"original_parsed": np.array(False),
                   "original_error_codes": np.array([UNSUPPORTED_NODE], dtype=np.int32),
                   "original_error_nodes": np.array([HARDMAX_NODE], dtype=np.int32),
                   "original_plugin_not_found": np.array(True), "repair_matches_onnxruntime": np.array(True)})
    return result


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
