#!/usr/bin/env python3
"""08-Advance/BestPractice/OnnxWorkflow: the workflow on an ONNX model, step by step: export, check, simplify,
parse, build, compare with onnxruntime, time, profile.

1. export: a small CNN from torch (opset 17, do_constant_folding=False so that the model keeps the constant and
   shape subgraphs an exporter may leave: 1 / std of the input normalization, the Unsqueeze ->
   Concat chain that computes the target shape of x.reshape(x.shape[0], -1));
2. check: onnx.checker.check_model(model, full_check=True);
3. simplify: `polygraphy surgeon sanitize model.onnx --fold-constants -o model.sanitized.onnx` (the command line),
   and the same with onnx-graphsurgeon's Python API: graph.fold_constants().cleanup().toposort(); onnxruntime must
   give the same outputs for the original and both simplified models;
4. parse and build both the original and the sanitized model (FP32, TF32 cleared, ProfilingVerbosity.DETAILED);
5. run and compare each engine's logits with onnxruntime's run of the original model (the reference);
6. time both engines (median and p90 of RUNS runs, CUDA events, one process): TensorRT does much of the same
   folding itself, and the table shows what the simplification still changes;
7. profile the sanitized engine: the engine inspector's layer list, and per-layer times from an IProfiler.
"""
import subprocess
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}  # FP32 (TF32 cleared) against onnxruntime: the FC sums 16384 products
REFERENCE_TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # torch export + onnxruntime on another CPU
ORIGINAL, SANITIZED, FOLDED = "model.onnx", "model.sanitized.onnx", "model.folded.onnx"
SHAPE = (8, 3, 32, 32)
RUNS, WARMUP = 200, 20
FACTS = ("checker_ok", "sanitize_removed_nodes", "graphsurgeon_removed_nodes", "onnxruntime_agrees_after_simplify",
         "profiler_reported_every_layer")


def export_model(path):
    """A CNN for 32x32 images, its weights and BatchNorm statistics from a seeded numpy generator; exported
    without constant folding."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn = torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.BatchNorm2d(32)
            self.conv2 = torch.nn.Conv2d(32, 64, 3, stride=2, padding=1)
            self.fc = torch.nn.Linear(64 * 16 * 16, 10)
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1))

        def forward(self, x):
            x = (x - self.mean) * (1.0 / self.std)  # a constant subexpression: 1 / std
            x = torch.relu(self.bn(self.conv1(x)))
            x = torch.relu(self.conv2(x))
            return self.fc(x.reshape(x.shape[0], -1))  # shape arithmetic: ... -> Unsqueeze -> Concat -> Reshape

    net = Net().eval()
    rng = np.random.default_rng(0)  # numpy, not torch's initializers: the same weights with every torch version
    with torch.no_grad():
        for name, value in net.named_parameters():
            scale = 1 / np.sqrt(np.prod(value.shape[1:])) if value.dim() > 1 else 0.5
            value.copy_(torch.from_numpy(rng.uniform(-scale, scale, tuple(value.shape)).astype(np.float32)))
        net.bn.running_mean.copy_(torch.from_numpy(rng.uniform(-0.5, 0.5, 32).astype(np.float32)))
        net.bn.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, 32).astype(np.float32)))
    torch.onnx.export(net, (torch.zeros(SHAPE),), path, input_names=["x"], output_names=["logits"],
                      opset_version=17, dynamo=False, do_constant_folding=False)
    import onnx

    model = onnx.load(path)
    if model.ir_version > 8:  # IR 8 goes with opset 17: the version TensorRT 8.6's parser and older onnxruntimes read
        model.ir_version = 8
        onnx.save(model, path)


def onnxruntime_logits(path, x):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"x": x})[0]


def simplify():
    """Steps 2-3; returns the facts and the node counts."""
    import onnx
    import onnx_graphsurgeon as gs

    model = onnx.load(ORIGINAL)
    onnx.checker.check_model(model, full_check=True)  # raises onnx.checker.ValidationError on a broken model
    print(f"onnx.checker.check_model({ORIGINAL}, full_check=True): passed")
    command = ["polygraphy", "surgeon", "sanitize", ORIGINAL, "--fold-constants", "-o", SANITIZED]
    print("$ " + " ".join(command))
    subprocess.run(command, check=True)
    graph = gs.import_onnx(model)
    graph.fold_constants().cleanup().toposort()
    onnx.save(gs.export_onnx(graph), FOLDED)
    counts = {path: [n.op_type for n in onnx.load(path).graph.node] for path in (ORIGINAL, SANITIZED, FOLDED)}
    for path, ops in counts.items():
        print(f"{path}: {len(ops)} nodes: {' '.join(ops)}")
    return {"checker_ok": np.array(True),
            "sanitize_removed_nodes": np.array(len(counts[SANITIZED]) < len(counts[ORIGINAL])),
            "graphsurgeon_removed_nodes": np.array(len(counts[FOLDED]) < len(counts[ORIGINAL]))}


def make_inputs():
    return {"x": np.random.default_rng(3).uniform(0, 1, SHAPE).astype(np.float32)}


def reference(inputs):
    """onnxruntime's run of the exported model, for both engines; the facts as the documentation describes them."""
    export_model(ORIGINAL)  # reference() runs in a temporary copy of this folder
    logits = onnxruntime_logits(ORIGINAL, inputs["x"])
    result = {"original_logits": logits, "sanitized_logits": logits}
    result.update({fact: np.array(True) for fact in FACTS})
    return result


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build(logger, path):
    """Step 4: parse `path` into a network and build it."""
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    with open(path, "rb") as f:
        if not parser.parse(f.read()):
            for i in range(parser.num_errors):
                print(f"parser error {i}: {parser.get_error(i)}")
            raise RuntimeError(f"{path} did not parse")
    print(f"{path}: parsed into {network.num_layers} network layers")
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"{path}: build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError(f"{path}: deserialize_cuda_engine failed")
    return engine


class LayerTimes(trt.IProfiler):
    """Step 7: TensorRT calls report_layer_time once per engine layer and run."""

    def __init__(self):
        trt.IProfiler.__init__(self)
        self.records = []

    def report_layer_time(self, layer_name, ms):
        self.records.append((layer_name, ms))


class Runner:
    """One context: device buffers for x and logits, one stream; run() returns the logits, time() the latency."""

    def __init__(self, engine, x):
        self.engine, self.context = engine, engine.create_execution_context()
        self.stream = check_cuda(cudart.cudaStreamCreate())
        self.logits = np.empty(tuple(self.context.get_tensor_shape("logits")), dtype=np.float32)
        self.d_x = check_cuda(cudart.cudaMalloc(x.nbytes))
        self.d_logits = check_cuda(cudart.cudaMalloc(self.logits.nbytes))
        check_cuda(cudart.cudaMemcpy(self.d_x, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
        self.context.set_tensor_address("x", self.d_x)
        self.context.set_tensor_address("logits", self.d_logits)

    def execute(self):
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("execute_async_v3 failed")

    def run(self):
        self.execute()
        check_cuda(cudart.cudaMemcpyAsync(self.logits.ctypes.data, self.d_logits, self.logits.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        check_cuda(cudart.cudaStreamSynchronize(self.stream))
        return self.logits.copy()

    def time(self):
        start, end = check_cuda(cudart.cudaEventCreate()), check_cuda(cudart.cudaEventCreate())
        for _ in range(WARMUP):
            self.execute()
        times = []
        for _ in range(RUNS):
            check_cuda(cudart.cudaEventRecord(start, self.stream))
            self.execute()
            check_cuda(cudart.cudaEventRecord(end, self.stream))
            check_cuda(cudart.cudaEventSynchronize(end))
            times.append(check_cuda(cudart.cudaEventElapsedTime(start, end)))
        for event in (start, end):
            check_cuda(cudart.cudaEventDestroy(event))
        return float(np.median(times)), float(np.percentile(times, 90))

    def profile(self):
        """Step 7: the inspector's layer list, then two runs with an IProfiler attached."""
        inspector = self.engine.create_engine_inspector()
        inspector.execution_context = self.context
        print(f"engine inspector: {self.engine.num_layers} layers")
        for i in range(self.engine.num_layers):
            print(f"  {inspector.get_layer_information(i, trt.LayerInformationFormat.ONELINE).strip()}")
        profiler = LayerTimes()
        self.context.profiler = profiler
        for _ in range(2):  # with a profiler attached, each execute_async_v3 reports every layer's time
            self.execute()
            check_cuda(cudart.cudaStreamSynchronize(self.stream))
        times = {}
        for name, ms in profiler.records:
            times.setdefault(name, []).append(ms)
        print(f"IProfiler, {len(profiler.records)} reports over two runs, mean per layer (ms), slowest first:")
        for name, values in sorted(times.items(), key=lambda item: -np.mean(item[1])):
            print(f"  {np.mean(values):8.4f}  {name} ({len(values)} reports)")
        return len(times) == self.engine.num_layers  # every engine layer reported (names are unique)

    def free(self):
        for pointer in (self.d_x, self.d_logits):
            check_cuda(cudart.cudaFree(pointer))
        check_cuda(cudart.cudaStreamDestroy(self.stream))


def main():
    inputs = make_inputs()
    print(f"=== 1. export {ORIGINAL} (torch, opset 17, without constant folding)")
    export_model(ORIGINAL)
    print("=== 2-3. check and simplify")
    outputs = simplify()
    want = onnxruntime_logits(ORIGINAL, inputs["x"])
    agree = all(np.allclose(onnxruntime_logits(p, inputs["x"]), want, rtol=1e-6, atol=1e-6) for p in (SANITIZED, FOLDED))
    outputs["onnxruntime_agrees_after_simplify"] = np.array(agree)
    print(f"onnxruntime: the simplified models give the original's logits: {agree}")
    logger = trt.Logger(trt.Logger.ERROR)
    rows = []
    for label, path in (("original", ORIGINAL), ("sanitized", SANITIZED)):
        print(f"=== 4-6. {label}: parse, build, run, time")
        engine = build(logger, path)
        runner = Runner(engine, inputs["x"])
        outputs[f"{label}_logits"] = runner.run()
        rows.append((label, engine.num_layers) + runner.time())
        if label == "sanitized":
            print("=== 7. profile")
            outputs["profiler_reported_every_layer"] = np.array(runner.profile())
        runner.free()
        del runner, engine
    print(f"\n{RUNS} runs after {WARMUP} warm-up runs, CUDA events, x {list(SHAPE)}, FP32 without TF32")
    print("| model | engine layers | median (ms) | p90 (ms) |")
    print("|---|---:|---:|---:|")
    for label, layers, median, p90 in rows:
        print(f"| {label} | {layers} | {median:.4f} | {p90:.4f} |")
    expected = reference(inputs)
    passed = True
    for name, value in expected.items():
        got = outputs[name]
        same = got.shape == value.shape and got.dtype == value.dtype and (
            bool(np.allclose(got, value, **TOLERANCE)) if value.dtype.kind == "f" else bool(np.array_equal(got, value)))
        if value.dtype.kind != "f":
            detail = f"{got} (expected {value})"
        elif got.shape == value.shape:
            detail = f"max abs error = {float(np.max(np.abs(got - value))):.3e}"
        else:
            detail = f"got {got.shape}, expected {value.shape}"
        print(f"check result: {same}, {name}: {detail}")
        passed = passed and same
    np.savez("main.output.npz", **{name: outputs[name] for name in expected})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
