#!/usr/bin/env python3
"""02-API/ONNXParser: trt.OnnxParser, which fills a TensorRT network from an ONNX model, and how it reports errors.

The ONNX model is made here with the `onnx` package's helper API (no torch): y = ReLU(x @ W + B), opset 17.
1. Parser queries: supports_operator(op), supports_model(model) -> (supported, subgraphs), the parser version.
2. The three ways to parse: parse(bytes), parse_from_file(path), parse_with_weight_descriptors(bytes); each network
   is built and run, and its output checked against numpy.
3. Two broken models: an operator that no importer or plugin handles (UNSUPPORTED_NODE) and a node whose input is
   never produced (INVALID_GRAPH). num_errors, get_error(i) with code() / node() / desc() / file() / line() /
   func(), then clear_errors().
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

ONNX_FILE = "model.onnx"
INPUT_NAME = "x"
OUTPUT_NAME = "y"
SHAPE = (2, 4, 8)  # x: [2, 4, 8], W: [8, 6], B: [6], y: [2, 4, 6]
HIDDEN = 6
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 with TF32 cleared
PARSE_METHODS = ("parse", "parse_from_file", "parse_with_weight_descriptors")


def make_weights():
    rng = np.random.default_rng(31193)
    w = rng.standard_normal((SHAPE[-1], HIDDEN)).astype(np.float32)
    b = rng.standard_normal(HIDDEN).astype(np.float32)
    return w, b


def make_inputs():
    rng = np.random.default_rng(42)
    return {INPUT_NAME: rng.standard_normal(SHAPE).astype(np.float32)}


def reference(inputs):
    w, b = make_weights()
    y = np.maximum(inputs[INPUT_NAME].astype(np.float64) @ w.astype(np.float64) + b, 0).astype(np.float32)
    result = {f"{OUTPUT_NAME}_{method}": y for method in PARSE_METHODS}
    # the failures below are known in advance
    result["unsupported_op_rejected"] = np.array(True)
    result["dangling_input_rejected"] = np.array(True)
    result["errors_cleared"] = np.array(True)
    return result


def make_onnx_models():
    """Return (good, unsupported_op, dangling_input) ONNX models as bytes; the good one is also saved to ONNX_FILE."""
    import onnx  # imported here: only main() needs it, reference() does not
    from onnx import TensorProto, helper, numpy_helper

    w, b = make_weights()

    def model(nodes, name, extra_opsets=()):
        graph = helper.make_graph(
            nodes, name,
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, list(SHAPE))],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, list(SHAPE[:-1]) + [HIDDEN])],
            [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
        opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, 1) for d in extra_opsets]
        m = helper.make_model(graph, opset_imports=opsets, producer_name="trt-cookbook")
        m.ir_version = 8  # the IR version of opset 17; TensorRT 8.6's parser knows up to this one
        return m

    good = model([
        helper.make_node("MatMul", [INPUT_NAME, "W"], ["xw"], name="MatMul"),
        helper.make_node("Add", ["xw", "B"], ["xwb"], name="Add"),
        helper.make_node("Relu", ["xwb"], [OUTPUT_NAME], name="Relu"),
    ], "matmul_add_relu")
    onnx.checker.check_model(good)
    onnx.save(good, ONNX_FILE)

    unsupported = model([  # node 2 is an operator nobody implements (no importer, no plugin of that name)
        helper.make_node("MatMul", [INPUT_NAME, "W"], ["xw"], name="MatMul"),
        helper.make_node("Add", ["xw", "B"], ["xwb"], name="Add"),
        helper.make_node("CookbookUnknownOp", ["xwb"], [OUTPUT_NAME], name="Unknown", domain="cookbook"),
    ], "unsupported_op", extra_opsets=["cookbook"])

    dangling = model([  # node 1 reads "B_typo", which no initializer, input or node produces
        helper.make_node("MatMul", [INPUT_NAME, "W"], ["xw"], name="MatMul"),
        helper.make_node("Add", ["xw", "B_typo"], ["xwb"], name="Add"),
        helper.make_node("Relu", ["xwb"], [OUTPUT_NAME], name="Relu"),
    ], "dangling_input")
    return good.SerializeToString(), unsupported.SerializeToString(), dangling.SerializeToString()


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class CollectingLogger(trt.ILogger):
    """Keeps the messages at WARNING or more severe (INTERNAL_ERROR = 0 < ERROR = 1 < WARNING = 2 < INFO = 3)."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(trt.ILogger.Severity.WARNING):
            self.messages.append((severity, msg))

    def take(self):
        messages, self.messages = self.messages, []
        return messages


def print_messages(messages, indent="    "):
    for severity, msg in messages:
        print(f"{indent}[TRT] {severity.name}: {msg}")


def new_network_and_parser(builder, logger):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)  # the parser writes into this network
    return network, parser


def print_parser_errors(parser):
    print(f"    parser.num_errors = {parser.num_errors}")
    for i in range(parser.num_errors):
        error = parser.get_error(i)  # a ParserError
        print(f"    get_error({i}).code() = {error.code()}")  # a trt.ErrorCode
        print(f"    get_error({i}).node() = {error.node()}  (index of the ONNX node, -1 if none)")
        print(f"    get_error({i}).desc() = {error.desc()}")
        print(f"    get_error({i}).file() = {error.file()}, line() = {error.line()}, func() = {error.func()}")


def build_and_run(builder, runtime, network, inputs):
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 matrix multiply, compared with a 1e-5 tolerance
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the parsed network failed")
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return run_engine(engine, inputs)


def run_engine(engine, inputs):
    """Run a static-shape engine once; return {output name: array}."""
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    host, device = {}, {}
    for name in names:
        dtype = trt.nptype(engine.get_tensor_dtype(name))
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            host[name] = np.ascontiguousarray(inputs[name], dtype=dtype)
            context.set_input_shape(name, host[name].shape)
        else:
            host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=dtype)
        device[name] = check_cuda(cudart.cudaMalloc(host[name].nbytes))
        context.set_tensor_address(name, device[name])
    stream = check_cuda(cudart.cudaStreamCreate())
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    outputs = {}
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
            outputs[name] = host[name]
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for name in names:
        check_cuda(cudart.cudaFree(device[name]))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return outputs


def check_array(label, actual, expected):
    same_shape = actual.shape == expected.shape
    max_error = float(np.max(np.abs(actual.astype(np.float64) - expected))) if same_shape else float("inf")
    passed = bool(same_shape and np.allclose(actual, expected, **TOLERANCE))
    print(f"check result: {passed}, max abs error = {max_error:.3e} ({label})")
    return passed


def check_fact(label, actual, expected):
    passed = bool(actual) == bool(expected)
    print(f"check result: {passed}, {label}: {bool(actual)} (expected {bool(expected)})")
    return passed


def show_queries(builder, logger, good, unsupported):
    print("=== Parser queries")
    print(f"trt.get_nv_onnx_parser_version() = {trt.get_nv_onnx_parser_version()}")
    network, parser = new_network_and_parser(builder, logger)
    # TensorRT 8.6.0's libnvonnxparser has no parser flags (OnnxParserFlag / set_flag arrived later)
    print(f"trt has OnnxParserFlag: {hasattr(trt, 'OnnxParserFlag')}, parser has set_flag: {hasattr(parser, 'set_flag')}")
    for op in ("MatMul", "Relu", "NonZero", "Col2Im", "CookbookUnknownOp"):
        print(f"parser.supports_operator({op!r:20s}) = {parser.supports_operator(op)}")
    # supports_model parses the model into the parser's network, so each call gets a fresh network and parser
    for label, model in (("good model", good), ("model with CookbookUnknownOp", unsupported)):
        network, parser = new_network_and_parser(builder, logger)
        supported, subgraphs = parser.supports_model(model)
        print(f"supports_model({label}) -> supported = {supported}")
        for nodes, subgraph_supported in subgraphs:
            print(f"    subgraph of nodes {list(nodes)}: supported = {subgraph_supported}")
    logger.take()


def main():
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    runtime = trt.Runtime(logger)
    inputs = make_inputs()
    expected = reference(inputs)
    saved = {}
    passed = True

    good, unsupported, dangling = make_onnx_models()
    print(f"made {ONNX_FILE} ({os.path.getsize(ONNX_FILE)} bytes) and two broken models in memory")
    show_queries(builder, logger, good, unsupported)

    print("=== The three ways to parse the good model")
    for method in PARSE_METHODS:
        network, parser = new_network_and_parser(builder, logger)
        if method == "parse":
            ok = parser.parse(good)  # bytes of the model (a path as 2nd argument only for external weights)
        elif method == "parse_from_file":
            ok = parser.parse_from_file(ONNX_FILE)
        else:  # like parse(), without a model path (no external weights)
            ok = parser.parse_with_weight_descriptors(good)
        print(f"parser.{method}(...) = {ok}, num_errors = {parser.num_errors}, network: {network.num_layers} layers, "
              f"inputs {[network.get_input(i).name for i in range(network.num_inputs)]}, "
              f"outputs {[network.get_output(i).name for i in range(network.num_outputs)]}")
        if not ok:
            print_parser_errors(parser)
            raise RuntimeError(f"{method} failed on the good model")
        key = f"{OUTPUT_NAME}_{method}"
        saved[key] = build_and_run(builder, runtime, network, inputs)[OUTPUT_NAME]  # the parser is still alive here
        passed &= check_array(f"{method} vs numpy", saved[key], expected[key])
    print_messages(logger.take())

    print("=== A model with an operator nobody implements")
    network, parser = new_network_and_parser(builder, logger)
    ok = parser.parse(unsupported)
    print(f"parser.parse(...) = {ok}")
    print_parser_errors(parser)
    print_messages(logger.take())
    saved["unsupported_op_rejected"] = np.array(not ok and parser.num_errors > 0)
    passed &= check_fact("parse failed with errors", saved["unsupported_op_rejected"], True)

    print("=== A model whose node reads a tensor that does not exist")
    network, parser = new_network_and_parser(builder, logger)
    ok = parser.parse(dangling)
    print(f"parser.parse(...) = {ok}")
    print_parser_errors(parser)
    print_messages(logger.take())
    saved["dangling_input_rejected"] = np.array(not ok and parser.num_errors > 0)
    passed &= check_fact("parse failed with errors", saved["dangling_input_rejected"], True)

    before = parser.num_errors
    parser.clear_errors()  # errors accumulate over parse calls until cleared
    print(f"parser.clear_errors(): num_errors {before} -> {parser.num_errors}")
    saved["errors_cleared"] = np.array(before > 0 and parser.num_errors == 0)
    passed &= check_fact("errors were cleared", saved["errors_cleared"], True)

    try:  # plugin libraries a version-compatible engine would need (none for this model)
        print(f"parser.get_used_vc_plugin_libraries() = {parser.get_used_vc_plugin_libraries()}")
    except RuntimeError as error:
        print(f"parser.get_used_vc_plugin_libraries() raised: {error}")

    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **saved)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
