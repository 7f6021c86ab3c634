#!/usr/bin/env python3
"""05-Plugin/ONNXParserPlugin: the slides' flow for a plugin in an ONNX model, and what it gains.

1. torch -> ONNX: a LayerNorm written as primitive ops (ReduceMean, Sub, Pow, ReduceMean, Add eps, Sqrt, Div, Mul
   gamma, Add beta), exported with dynamo=False, opset 17 -> layernorm_ops.onnx.
2. onnx-graphsurgeon finds that nine-node subgraph and replaces it by one node: op type "CookbookLayerNorm" (the
   plugin's name), inputs x, gamma, beta, attribute epsilon -> layernorm_plugin.onnx; and, for comparison, by the
   standard ONNX LayerNormalization (opset 17), which TensorRT 8.6's parser turns into an INormalizationLayer ->
   layernorm_native.onnx.
3. Parsing layernorm_plugin.onnx before LayerNormPlugin.so is loaded fails: the parser has no importer for
   "CookbookLayerNorm", falls back to the plugin registry and finds no creator ("Plugin not found"). The fix: load the
   library (ctypes), parse again: the parser passes the node's attributes to the creator as PluginFields.
4. The three models are built (FP32, TF32 cleared, batch 1..64 x tokens 1..256) and run at [2, 4, 768]: each output
   is checked against torch. Then each engine runs at [64, 256, 768] (a memory-bound size: 50 MB in, 50 MB out):
   median and p90 of 200 runs after 20 warm-up runs, timed with CUDA events, printed as a table.
Inline (no run block): the topic includes timing the engines, which the run block does not do.
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

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32; the reductions over 768 values run in another order than torch's
REFERENCE_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # torch on another CPU
PLUGIN_LIBRARY, PLUGIN_OP = "./LayerNormPlugin.so", "CookbookLayerNorm"
OPS, PLUGIN, NATIVE = "layernorm_ops.onnx", "layernorm_plugin.onnx", "layernorm_native.onnx"
HIDDEN, EPSILON = 768, 1e-2  # a large epsilon: a plugin that dropped or misread it would fail the check
BENCH_SHAPE, WARMUP, RUNS = (64, 256, HIDDEN), 20, 200


def make_model():
    import torch

    class LayerNormOps(torch.nn.Module):
        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(0)
            self.gamma = torch.nn.Parameter(torch.rand(HIDDEN, generator=g) + 0.5)
            self.beta = torch.nn.Parameter(torch.randn(HIDDEN, generator=g))

        def forward(self, x):
            mean = x.mean(-1, keepdim=True)
            d = x - mean
            var = d.pow(2).mean(-1, keepdim=True)
            return d / torch.sqrt(var + EPSILON) * self.gamma + self.beta

    return LayerNormOps().eval()


def export_models():
    """torch -> layernorm_ops.onnx -> (graphsurgeon) layernorm_plugin.onnx and layernorm_native.onnx."""
    import onnx
    import torch

    torch.onnx.export(make_model(), torch.zeros(2, 4, HIDDEN), OPS, dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch", 1: "tokens"}, "y": {0: "batch", 1: "tokens"}})
    model = onnx.load(OPS)
    print(f"{OPS}: {[n.op_type for n in model.graph.node]}")
    count = replace_layernorms(model, PLUGIN, PLUGIN_OP, lambda eps: {"epsilon": eps})
    replace_layernorms(model, NATIVE, "LayerNormalization", lambda eps: {"axis": -1, "epsilon": eps})
    return count


def replace_layernorms(model, path, op, attributes):
    """Find ReduceMean -> Sub -> Pow(2) -> ReduceMean -> Add(eps) -> Sqrt -> Div -> Mul(gamma) -> Add(beta) and replace
    each by one node `op`(x, gamma, beta) with attributes(eps); save to `path`; return how many were replaced."""
    import onnx
    import onnx_graphsurgeon as gs

    def consumer(tensor, op_type):
        return next((n for n in tensor.outputs if n.op == op_type), None)

    def value(tensor):  # an initializer (gs.Constant) or the output of a Constant node
        if isinstance(tensor, gs.Constant):
            return tensor.values
        producer = tensor.inputs[0] if tensor.inputs else None
        return producer.attrs["value"].values if producer is not None and producer.op == "Constant" else None

    graph = gs.import_onnx(model)
    count = 0
    for mean in [n for n in graph.nodes if n.op == "ReduceMean"]:
        x = mean.inputs[0]
        sub = consumer(mean.outputs[0], "Sub")
        power = sub and consumer(sub.outputs[0], "Pow")
        var = power and consumer(power.outputs[0], "ReduceMean")
        add_eps = var and consumer(var.outputs[0], "Add")
        sqrt = add_eps and consumer(add_eps.outputs[0], "Sqrt")
        div = sqrt and consumer(sqrt.outputs[0], "Div")
        mul = div and consumer(div.outputs[0], "Mul")
        add_beta = mul and consumer(mul.outputs[0], "Add")
        if not (add_beta and sub.inputs[0] is x and div.inputs[0] is sub.outputs[0]
                and float(value(power.inputs[1])) == 2.0 and list(mean.attrs.get("axes", [])) == [-1]):
            continue
        eps = float(value(add_eps.inputs[1]))
        gamma, beta, y = mul.inputs[1], add_beta.inputs[1], add_beta.outputs[0]
        add_beta.outputs.clear()  # the old subgraph no longer feeds y: cleanup() removes it
        graph.nodes.append(gs.Node(op, f"{op}_{count}", attributes(eps), [x, gamma, beta], [y]))
        count += 1
    graph.cleanup().toposort()
    new = gs.export_onnx(graph)
    new.ir_version = 8  # the IR version of opset 17, which TensorRT 8.6's parser reads
    onnx.save(new, path)
    print(f"{path}: {[n.op_type for n in new.graph.node]} ({count} subgraph replaced by {op})")
    return count


def parse(path, logger):
    """A network from the ONNX file; (builder, network, parser, the parser's error descriptions)."""
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    with open(path, "rb") as f:
        parsed = parser.parse(f.read())
    errors = [parser.get_error(i).desc() for i in range(parser.num_errors)]
    for i in range(parser.num_errors):
        error = parser.get_error(i)
        print(f"  parser error {i}: code {error.code()}, node {error.node()}: {error.desc()}")
    return builder, network, parser, parsed, errors


def build(path, logger):
    builder, network, parser, parsed, _ = parse(path, logger)
    if not parsed:
        raise RuntimeError(f"{path} did not parse")
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # layer names for the inspector below
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 1, HIDDEN), BENCH_SHAPE, BENCH_SHAPE)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"building {path} failed")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError(f"deserializing the engine of {path} failed")
    inspector = engine.create_engine_inspector()
    layers = [inspector.get_layer_information(i, trt.LayerInformationFormat.ONELINE) for i in range(engine.num_layers)]
    print(f"{path}: {network.num_layers} network layers -> {engine.num_layers} engine layers:")
    for line in layers:
        print(f"    {line.strip()[:150]}")
    return engine


class Runner:
    """One execution context with buffers for the largest shape; run() for the check, time() for the table."""

    def __init__(self, engine):
        self.context = engine.create_execution_context()
        self.stream = check_cuda(cudart.cudaStreamCreate())
        self.nbytes = int(np.prod(BENCH_SHAPE)) * 4
        self.x, self.y = check_cuda(cudart.cudaMalloc(self.nbytes)), check_cuda(cudart.cudaMalloc(self.nbytes))
        self.context.set_tensor_address("x", self.x)
        self.context.set_tensor_address("y", self.y)

    def run(self, x):
        x = np.ascontiguousarray(x, np.float32)
        self.context.set_input_shape("x", x.shape)
        y = np.empty(tuple(self.context.get_tensor_shape("y")), np.float32)
        check_cuda(cudart.cudaMemcpyAsync(self.x, x.ctypes.data, x.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("execute_async_v3 failed")
        check_cuda(cudart.cudaMemcpyAsync(y.ctypes.data, self.y, y.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        check_cuda(cudart.cudaStreamSynchronize(self.stream))
        return y

    def time(self, x):
        """Microseconds of each of RUNS executions (after WARMUP), between two events on the stream."""
        self.run(x)  # sets the shape and copies the input
        start, end = check_cuda(cudart.cudaEventCreate()), check_cuda(cudart.cudaEventCreate())
        times = []
        for i in range(WARMUP + RUNS):
            check_cuda(cudart.cudaEventRecord(start, self.stream))
            self.context.execute_async_v3(int(self.stream))
            check_cuda(cudart.cudaEventRecord(end, self.stream))
            check_cuda(cudart.cudaEventSynchronize(end))
            if i >= WARMUP:
                times.append(check_cuda(cudart.cudaEventElapsedTime(start, end)) * 1000)
        for event in (start, end):
            check_cuda(cudart.cudaEventDestroy(event))
        return np.array(times)

    def free(self):
        for pointer in (self.x, self.y):
            check_cuda(cudart.cudaFree(pointer))
        check_cuda(cudart.cudaStreamDestroy(self.stream))


def make_inputs():
    return {"x": np.random.default_rng(31193).normal(0.5, 2.0, (2, 4, HIDDEN)).astype(np.float32)}


def reference(inputs):
    """torch's output of the primitive-op model on the CPU (for all three engines), the documented parser failure,
    and one LayerNorm subgraph found (the surgery runs here too, so that the CPU tests check it)."""
    import torch

    if export_models() != 1:
        raise RuntimeError("the LayerNorm subgraph was not found")
    with torch.no_grad():
        y = make_model()(torch.from_numpy(inputs["x"])).numpy().astype(np.float32)
    return {"y_ops": y, "y_plugin": y, "y_native": y, "replaced_subgraphs": np.array(1, np.int32),
            "without_library_parse_failed": np.array(True), "without_library_plugin_not_found": np.array(True)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def main():
    np.set_printoptions(precision=4, linewidth=120, suppress=True)
    logger = trt.Logger(trt.Logger.WARNING)
    inputs = make_inputs()
    print("=== torch -> ONNX, onnx-graphsurgeon")
    outputs = {"replaced_subgraphs": np.array(export_models(), np.int32)}
    print(f"=== parse {PLUGIN} before {PLUGIN_LIBRARY} is loaded")
    _, _, _, parsed, errors = parse(PLUGIN, logger)
    outputs["without_library_parse_failed"] = np.array(not parsed)
    outputs["without_library_plugin_not_found"] = np.array(any("Plugin not found" in e for e in errors))
    print(f"=== load {PLUGIN_LIBRARY} (ctypes), then build the three models")
    ctypes.CDLL(PLUGIN_LIBRARY, mode=ctypes.RTLD_GLOBAL)
    bench = np.random.default_rng(1).standard_normal(BENCH_SHAPE).astype(np.float32)
    rows = []
    for name, path in (("y_ops", OPS), ("y_plugin", PLUGIN), ("y_native", NATIVE)):
        runner = Runner(build(path, logger))
        outputs[name] = runner.run(inputs["x"])
        times = runner.time(bench)
        rows.append((path, float(np.median(times)), float(np.percentile(times, 90))))
        runner.free()
    print(f"\nlatency at {list(BENCH_SHAPE)} FP32, {RUNS} runs after {WARMUP} warm-up runs, CUDA events:")
    print("| model | median (µs) | p90 (µs) | median vs primitive ops |\n|---|---|---|---|")
    for path, median, p90 in rows:
        print(f"| {path} | {median:.1f} | {p90:.1f} | {rows[0][1] / median:.2f}x |")
    print()
    passed = True
    for name, want in reference(inputs).items():
        got = outputs[name]
        if want.dtype.kind == "f":
            same = got.shape == want.shape and bool(np.allclose(got, want, **TOLERANCE))
            detail = f"max abs error = {float(np.max(np.abs(got - want))):.3e}" if got.shape == want.shape else got.shape
        else:
            same, detail = got.dtype == want.dtype and bool(np.array_equal(got, want)), f"{got}"
        print(f"check result: {same}, {name}: {detail}")
        passed = passed and same
    np.savez("main.output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
