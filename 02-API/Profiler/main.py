#!/usr/bin/env python3
"""02-API/Profiler: per-layer execution times with an IProfiler.

A trt.IProfiler subclass implements report_layer_time(layer_name, ms); attached with context.profiler = ...,
TensorRT calls it once for every engine layer after each inference. This script:
  1. collects the per-layer times of several runs and prints a table (mean / min per layer);
  2. sets context.enqueue_emits_profile = False: inference no longer reports by itself (and stays
     asynchronous); context.report_to_profiler() then reports the most recent inference on demand;
  3. uses the built-in trt.Profiler, which just prints "layer: time";
  4. builds with ProfilingVerbosity.NONE: the profiler then gets layer indices instead of layer names.
Every run's output is checked against numpy; times are printed, never checked.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

INPUT_NAME = "inputT0"
OUTPUT_NAME = "outputT0"
SHAPE = (8, 32)
HIDDEN = 64
CLASSES = 16
N_RUNS = 5
# FP32 engine (TF32 cleared) against numpy.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal(SHAPE).astype(np.float32)}


def make_weights():
    rng = np.random.default_rng(97)
    return {
        "w1": (rng.standard_normal((SHAPE[1], HIDDEN)) / np.sqrt(SHAPE[1])).astype(np.float32),
        "b1": (rng.standard_normal((1, HIDDEN)) * 0.1).astype(np.float32),
        "w2": (rng.standard_normal((HIDDEN, CLASSES)) / np.sqrt(HIDDEN)).astype(np.float32),
    }


def reference(inputs):
    """MatMul -> + bias -> ReLU -> MatMul -> SoftMax over the last axis."""
    w = {k: v.astype(np.float64) for k, v in make_weights().items()}
    h = np.maximum(inputs[INPUT_NAME].astype(np.float64) @ w["w1"] + w["b1"], 0)
    logits = h @ w["w2"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return {OUTPUT_NAME: (e / e.sum(axis=1, keepdims=True)).astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class LayerTimeProfiler(trt.IProfiler):
    """Collects {layer name: [ms of run 1, ms of run 2, ...]}."""

    def __init__(self):
        trt.IProfiler.__init__(self)  # the base class must be initialised explicitly
        self.times = {}
        self.calls = 0

    def report_layer_time(self, layer_name, ms):
        self.times.setdefault(layer_name, []).append(ms)
        self.calls += 1

    def print_table(self):
        total = 0.0
        print(f"  {'layer':60s} {'runs':>4s} {'mean ms':>9s} {'min ms':>9s}")
        for name, values in self.times.items():
            total += float(np.mean(values))
            print(f"  {name[:60]:60s} {len(values):4d} {np.mean(values):9.4f} {np.min(values):9.4f}")
        print(f"  sum of the per-layer means: {total:.4f} ms ({self.calls} report_layer_time calls)")


def build_engine(logger, runtime, verbosity):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    config.profiling_verbosity = verbosity
    w = make_weights()

    x = network.add_input(INPUT_NAME, trt.float32, SHAPE)
    w1 = network.add_constant(w["w1"].shape, w["w1"])
    w1.name = "W1"
    mm1 = network.add_matrix_multiply(x, trt.MatrixOperation.NONE, w1.get_output(0), trt.MatrixOperation.NONE)
    mm1.name = "MatMul1"
    b1 = network.add_constant(w["b1"].shape, w["b1"])
    b1.name = "B1"
    add = network.add_elementwise(mm1.get_output(0), b1.get_output(0), trt.ElementWiseOperation.SUM)
    add.name = "AddBias"
    relu = network.add_activation(add.get_output(0), trt.ActivationType.RELU)
    relu.name = "ReLU"
    w2 = network.add_constant(w["w2"].shape, w["w2"])
    w2.name = "W2"
    mm2 = network.add_matrix_multiply(relu.get_output(0), trt.MatrixOperation.NONE, w2.get_output(0),
                                      trt.MatrixOperation.NONE)
    mm2.name = "MatMul2"
    softmax = network.add_softmax(mm2.get_output(0))
    softmax.axes = 1 << 1  # over the last axis
    softmax.name = "SoftMax"
    softmax.get_output(0).name = OUTPUT_NAME
    network.mark_output(softmax.get_output(0))

    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("building the engine failed")
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


class Runner:
    """Buffers for one context; infer() copies the input in, runs, copies the output out."""

    def __init__(self, engine, x):
        self.context = engine.create_execution_context()
        self.x = np.ascontiguousarray(x)
        self.out = np.empty(tuple(self.context.get_tensor_shape(OUTPUT_NAME)), dtype=np.float32)
        self.d_in = check_cuda(cudart.cudaMalloc(self.x.nbytes))
        self.d_out = check_cuda(cudart.cudaMalloc(self.out.nbytes))
        self.context.set_tensor_address(INPUT_NAME, self.d_in)
        self.context.set_tensor_address(OUTPUT_NAME, self.d_out)
        self.stream = check_cuda(cudart.cudaStreamCreate())

    def infer(self):
        check_cuda(cudart.cudaMemcpyAsync(self.d_in, self.x.ctypes.data, self.x.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("execute_async_v3 failed")
        check_cuda(cudart.cudaMemcpyAsync(self.out.ctypes.data, self.d_out, self.out.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        check_cuda(cudart.cudaStreamSynchronize(self.stream))
        return self.out.copy()

    def free(self):
        check_cuda(cudart.cudaStreamDestroy(self.stream))
        check_cuda(cudart.cudaFree(self.d_in))
        check_cuda(cudart.cudaFree(self.d_out))


def check(out, expected, what):
    max_error = float(np.max(np.abs(out - expected)))
    passed = bool(np.allclose(out, expected, **TOLERANCE))
    print(f"check result: {passed}, max abs error = {max_error:.3e} ({what})")
    return passed


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    runtime = trt.Runtime(logger)
    inputs = make_inputs()
    expected = reference(inputs)[OUTPUT_NAME]
    passed = True

    print("=== 1. IProfiler subclass, ProfilingVerbosity.LAYER_NAMES_ONLY (the default), "
          f"{N_RUNS} runs")
    engine = build_engine(logger, runtime, trt.ProfilingVerbosity.LAYER_NAMES_ONLY)
    print(f"engine.num_layers = {engine.num_layers}, engine.profiling_verbosity = {engine.profiling_verbosity}")
    runner = Runner(engine, inputs[INPUT_NAME])
    profiler = LayerTimeProfiler()
    print(f"context.profiler before: {runner.context.profiler}")
    runner.context.profiler = profiler
    print(f"context.profiler after: {type(runner.context.profiler).__name__}, "
          f"context.enqueue_emits_profile = {runner.context.enqueue_emits_profile}")
    for i in range(N_RUNS):
        out = runner.infer()
        if i == 0:
            passed = check(out, expected, "first profiled run") and passed
            np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **{OUTPUT_NAME: out})
    profiler.print_table()
    print(f"report_layer_time calls per run: {profiler.calls // N_RUNS} (engine.num_layers = {engine.num_layers})")

    print("\n=== 2. enqueue_emits_profile = False: report only when asked, with report_to_profiler()")
    runner.context.enqueue_emits_profile = False
    calls_before = profiler.calls
    for _ in range(3):
        out = runner.infer()
    print(f"after 3 runs: {profiler.calls - calls_before} new report_layer_time calls")
    runner.context.report_to_profiler()  # reports the most recent inference
    print(f"after context.report_to_profiler(): {profiler.calls - calls_before} new calls")
    passed = check(out, expected, "enqueue_emits_profile = False") and passed

    print("\n=== 3. the built-in trt.Profiler prints every layer's time")
    runner.context.enqueue_emits_profile = True
    runner.context.profiler = trt.Profiler()
    out = runner.infer()
    passed = check(out, expected, "trt.Profiler") and passed
    runner.free()

    print("\n=== 4. ProfilingVerbosity.NONE: the profiler gets layer indices, not names")
    engine_none = build_engine(logger, runtime, trt.ProfilingVerbosity.NONE)
    runner = Runner(engine_none, inputs[INPUT_NAME])
    profiler_none = LayerTimeProfiler()
    runner.context.profiler = profiler_none
    out = runner.infer()
    print(f"layer names reported: {list(profiler_none.times)}")
    passed = check(out, expected, "ProfilingVerbosity.NONE") and passed
    runner.free()
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
