#!/usr/bin/env python3
"""02-API/ONNXParser: trt.OnnxParser, which fills a TensorRT network from an ONNX model, and how it reports errors.

The ONNX model is made here with the `onnx` package's helper API (no torch): y = ReLU(x @ W + B), opset 17.
run_example():
1. Parser queries: supports_operator(op), supports_model(model) -> (supported, subgraphs), the parser version.
2. The three ways to parse: parse(bytes), parse_from_file(path), parse_with_weight_descriptors(bytes). Each parses
   into the network the run block's build_engine() creates; each engine's output is checked against numpy.
3. Two broken models, parsed without building: an operator that no importer or plugin handles, and a node whose
   input is never produced. Checked: parse() returns False and the parser holds one error, with the ErrorCode and
   node index read from get_error(i).code() / node(); clear_errors() then leaves none.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 with TF32 cleared
ONNX_FILE = "model.onnx"
SHAPE, HIDDEN = (2, 4, 8), 6  # x [2,4,8] @ W [8,6] + B [6] -> y [2,4,6]
PARSE_METHODS = ("parse", "parse_from_file", "parse_with_weight_descriptors")
# nvonnxparser::ErrorCode values (NvOnnxParser.h), as int(trt.ErrorCode.X)
INVALID_GRAPH, UNSUPPORTED_NODE = 5, 8


class CollectingLogger(trt.ILogger):
    """Keeps the messages at WARNING or more severe, printed after each step."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(trt.ILogger.Severity.WARNING):
            self.messages.append(f"{severity.name}: {msg}")

    def flush(self):
        for message in self.messages:
            print(f"    [TRT] {message}")
        self.messages.clear()


def parse_into_network(method, model, logger):
    """A build_network() for the run block that parses `model` with `method` into the network it is given."""
    def build_network(builder, network, config, inputs):
        config.clear_flag(trt.BuilderFlag.TF32)  # FP32 matrix multiply, compared with a 1e-5 tolerance
        parser = trt.OnnxParser(network, logger)  # the parser writes into this network
        if method == "parse":
            ok = parser.parse(model)  # bytes of the model (a path as 2nd argument only for external weights)
        elif method == "parse_from_file":
            ok = parser.parse_from_file(ONNX_FILE)
        else:  # like parse(), without a model path (no external weights)
            ok = parser.parse_with_weight_descriptors(model)
        print(f"parser.{method}(...) = {ok}, num_errors = {parser.num_errors}, network: {network.num_layers} layers")
        if not ok:
            raise RuntimeError(f"{method} failed on the good model: {parser.get_error(0).desc()}")
        # plugin libraries that a version-compatible engine of this network would need (none here)
        print(f"parser.get_used_vc_plugin_libraries() = {parser.get_used_vc_plugin_libraries()}")
        return parser  # the network uses weights the parser owns: keep it alive until the build ends
    return build_network


def parse_broken(label, model, logger):
    """Parse a broken model into a fresh network; return its checked facts."""
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    ok = parser.parse(model)
    errors = [parser.get_error(i) for i in range(parser.num_errors)]  # ParserError objects
    print(f"=== {label}: parser.parse(...) = {ok}, parser.num_errors = {parser.num_errors}")
    for i, error in enumerate(errors):
        print(f"    get_error({i}): code() = {error.code()}, node() = {error.node()}, desc() = {error.desc()}\n"
              f"    file() = {error.file()}, line() = {error.line()}, func() = {error.func()}")
    logger.flush()
    facts = {f"{label}/parsed": np.array(ok),
             f"{label}/error_codes": np.array([int(e.code()) for e in errors], dtype=np.int32),
             f"{label}/error_nodes": np.array([e.node() for e in errors], dtype=np.int32)}
    parser.clear_errors()  # errors accumulate over parse calls until cleared
    facts[f"{label}/errors_after_clear"] = np.array(parser.num_errors, dtype=np.int32)
    return facts


def run_example(inputs):
    logger = CollectingLogger()
    good, unsupported, dangling = make_onnx_models()
    outputs = show_queries(logger, good, unsupported)
    for method in PARSE_METHODS:
        outputs[f"y_{method}"] = run_engine(build_engine(parse_into_network(method, good, logger), inputs, logger),
                                            inputs)["y"]
        logger.flush()
    outputs.update(parse_broken("unsupported_op", unsupported, logger))
    outputs.update(parse_broken("dangling_input", dangling, logger))
    return outputs


def make_weights():
    rng = np.random.default_rng(31193)
    return rng.standard_normal((SHAPE[-1], HIDDEN)).astype(np.float32), rng.standard_normal(HIDDEN).astype(np.float32)


def make_inputs():
    return {"x": np.random.default_rng(42).standard_normal(SHAPE).astype(np.float32)}


def reference(inputs):
    w, b = make_weights()
    y = np.maximum(inputs["x"].astype(np.float64) @ w.astype(np.float64) + b, 0).astype(np.float32)
    result = {f"y_{method}": y for method in PARSE_METHODS}
    result.update({"supports_model/good": np.array(True), "supports_model/unsupported_op": np.array(False)})
    for label, code, node in (("unsupported_op", UNSUPPORTED_NODE, 2), ("dangling_input", INVALID_GRAPH, 1)):
        result.update({f"{label}/parsed": np.array(False), f"{label}/error_codes": np.array([code], dtype=np.int32),
                       f"{label}/error_nodes": np.array([node], dtype=np.int32),
                       f"{label}/errors_after_clear": np.array(0, dtype=np.int32)})
    return result


def make_onnx_models():
    """Return (good, unsupported_op, dangling_input) ONNX models as bytes; the good one is also saved to ONNX_FILE."""
    import onnx  # imported here: only run_example() needs it, reference() does not
    from onnx import TensorProto, helper, numpy_helper

    w, b = make_weights()

    def model(nodes, name, extra_opsets=()):
        graph = helper.make_graph(
            nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(SHAPE[:-1]) + [HIDDEN])],
            [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
        opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, 1) for d in extra_opsets]
        m = helper.make_model(graph, opset_imports=opsets, producer_name="trt-cookbook")
        m.ir_version = 8  # the IR version of opset 17; TensorRT 8.6's parser knows up to this one
        return m

    def nodes(add_input="B", last=("Relu", "")):
        return [helper.make_node("MatMul", ["x", "W"], ["xw"], name="MatMul"),
                helper.make_node("Add", ["xw", add_input], ["xwb"], name="Add"),
                helper.make_node(last[0], ["xwb"], ["y"], name=last[0], domain=last[1])]

    good = model(nodes(), "matmul_add_relu")
    onnx.checker.check_model(good)
    onnx.save(good, ONNX_FILE)
    # node 2 is an operator nobody implements (no importer, no plugin of that name)
    unsupported = model(nodes(last=("CookbookUnknownOp", "cookbook")), "unsupported_op", extra_opsets=["cookbook"])
    dangling = model(nodes(add_input="B_typo"), "dangling_input")  # node 1 reads a tensor nothing produces
    print(f"made {ONNX_FILE} ({os.path.getsize(ONNX_FILE)} bytes) and two broken models in memory")
    return good.SerializeToString(), unsupported.SerializeToString(), dangling.SerializeToString()


def show_queries(logger, good, unsupported):
    """Print the parser's queries; return the results of supports_model as facts."""
    print(f"=== Parser queries\ntrt.get_nv_onnx_parser_version() = {trt.get_nv_onnx_parser_version()}")
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    # parser flags (trt.OnnxParserFlag.NATIVE_INSTANCENORM, parser.set_flag) came with TensorRT 8.6.1
    print(f"trt has OnnxParserFlag: {hasattr(trt, 'OnnxParserFlag')}, "
          f"parser has set_flag: {hasattr(parser, 'set_flag')}")
    for op in ("MatMul", "Relu", "NonZero", "Col2Im", "CookbookUnknownOp"):
        print(f"parser.supports_operator({op!r:20s}) = {parser.supports_operator(op)}")
    facts = {}
    for label, model in (("good", good), ("unsupported_op", unsupported)):
        # supports_model parses the model into the parser's network, so each call gets a fresh network and parser
        network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
        parser = trt.OnnxParser(network, logger)
        supported, subgraphs = parser.supports_model(model)
        print(f"supports_model({label} model) -> supported = {supported}, subgraphs (node indices, supported): "
              f"{[(list(nodes), flag) for nodes, flag in subgraphs]}")
        facts[f"supports_model/{label}"] = np.array(supported)
    logger.flush()
    return facts


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
