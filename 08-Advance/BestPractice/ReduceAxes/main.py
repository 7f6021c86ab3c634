#!/usr/bin/env python3
"""08-Advance/BestPractice/ReduceAxes: the same sum over the channel axis, three ways, measured side by side.

x is [B, C, L] = [64, 256, 1024] float32, y = x.sum(axis=1), [B, L].
- reduce_middle: one IReduceLayer over axis 1 of x (the reduced axis is not the innermost one in memory);
- transpose_then_reduce_last: an IShuffleLayer transposes x to [B, L, C] first, then the reduce runs over axis 2
  (the innermost one): an extra pass over 64 MiB, traded for a contiguous reduction;
- reduce_last: the producer of x already writes it as [B, L, C] (e.g. a model exported channels-last), so one
  reduce over the last axis needs no transpose.
Each engine is built (FP32), run once and checked against numpy (a sample of the output is saved), then timed:
median and p90 of RUNS executions after WARMUP, each between two CUDA events, all engines in this process. The
engine inspector lists the layers TensorRT kept (a transpose it fused away would not appear). Timings are
printed, never checked: which variant wins is the GPU's and TensorRT's business, and the table shows it.
"""
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-4}  # FP32 sums of 256 values of N(0, 1), against float64 numpy
FP16 = False
B, C, L = 64, 256, 1024
SETTING = f"x [{B}, {C}, {L}] float32"
SAMPLE = (slice(None, None, 8), slice(None, None, 16))  # the part of y [64, 1024] saved and compared: [8, 64]
RUNS, WARMUP = 200, 20
VARIANTS = ("reduce_middle", "transpose_then_reduce_last", "reduce_last")


def add_layers(network, variant, inputs):
    """The network of one variant: input "x", output "y" [B, L]; returns (what to feed "x", weights to keep)."""
    if variant == "reduce_last":
        x = network.add_input("x", trt.float32, (B, L, C))  # the data arrives channels-last
        y = network.add_reduce(x, trt.ReduceOperation.SUM, 1 << 2, False).get_output(0)
        feed = np.ascontiguousarray(inputs["x"].transpose(0, 2, 1))
    elif variant == "transpose_then_reduce_last":
        x = network.add_input("x", trt.float32, (B, C, L))
        shuffle = network.add_shuffle(x)
        shuffle.first_transpose = (0, 2, 1)  # [B, C, L] -> [B, L, C]
        y = network.add_reduce(shuffle.get_output(0), trt.ReduceOperation.SUM, 1 << 2, False).get_output(0)
        feed = inputs["x"]
    else:  # reduce_middle
        x = network.add_input("x", trt.float32, (B, C, L))
        y = network.add_reduce(x, trt.ReduceOperation.SUM, 1 << 1, False).get_output(0)
        feed = inputs["x"]
    y.name = "y"
    network.mark_output(y)
    return {"x": feed}, None


def sample(y, variant):
    return y[SAMPLE]


def make_inputs():
    return {"x": np.random.default_rng(2024).standard_normal((B, C, L)).astype(np.float32)}


def reference(inputs):
    y = inputs["x"].astype(np.float64).sum(axis=1).astype(np.float32)[SAMPLE]
    return {variant: y for variant in VARIANTS}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build(logger, variant, inputs):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 stays FP32 (TensorRT enables TF32 by default)
    if FP16:
        config.set_flag(trt.BuilderFlag.FP16)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector names every layer it kept
    feed, keep_alive = add_layers(network, variant, inputs)
    serialized = builder.build_serialized_network(network, config)
    del keep_alive  # numpy weights must live until the build ends
    if serialized is None:
        raise RuntimeError(f"{variant}: build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError(f"{variant}: deserialize_cuda_engine failed")
    return engine, feed


class Runner:
    """One context of an engine with static shapes: a device buffer per I/O tensor, one stream."""

    def __init__(self, engine, feed):
        self.engine, self.context = engine, engine.create_execution_context()
        self.stream = check_cuda(cudart.cudaStreamCreate())
        self.host, self.device = {}, {}
        for name in (engine.get_tensor_name(i) for i in range(engine.num_io_tensors)):
            dtype = trt.nptype(engine.get_tensor_dtype(name))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.host[name] = np.ascontiguousarray(feed[name], dtype=dtype)
            else:
                self.host[name] = np.empty(tuple(self.context.get_tensor_shape(name)), dtype=dtype)
            self.device[name] = check_cuda(cudart.cudaMalloc(self.host[name].nbytes))
            self.context.set_tensor_address(name, self.device[name])
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:  # inputs are copied once
                check_cuda(cudart.cudaMemcpy(self.device[name], self.host[name].ctypes.data, self.host[name].nbytes,
                                             cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))

    def execute(self):
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("execute_async_v3 failed")

    def run(self, name):
        """Run once, return output `name`."""
        self.execute()
        check_cuda(cudart.cudaMemcpyAsync(self.host[name].ctypes.data, self.device[name], self.host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        check_cuda(cudart.cudaStreamSynchronize(self.stream))
        return self.host[name].copy()

    def time(self):
        """Median and p90 (ms) of RUNS executions after WARMUP, each between two CUDA events on the stream."""
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

    def layers(self):
        """The engine's layers as the inspector prints them (one line each)."""
        inspector = self.engine.create_engine_inspector()
        inspector.execution_context = self.context
        return [inspector.get_layer_information(i, trt.LayerInformationFormat.ONELINE).strip()
                for i in range(self.engine.num_layers)]

    def free(self):
        for pointer in self.device.values():
            check_cuda(cudart.cudaFree(pointer))
        check_cuda(cudart.cudaStreamDestroy(self.stream))


def check(label, got, want):
    if got.shape != want.shape or got.dtype != want.dtype:
        print(f"check result: False, {label}: got {got.shape} {got.dtype}, expected {want.shape} {want.dtype}")
        return False
    same = bool(np.allclose(got, want, **TOLERANCE))
    print(f"check result: {same}, {label}: max abs error = {float(np.max(np.abs(got - want))):.3e}")
    return same


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    inputs = make_inputs()
    expected = reference(inputs)
    passed, outputs, rows = True, {}, []
    for variant in VARIANTS:
        engine, feed = build(logger, variant, inputs)
        runner = Runner(engine, feed)
        print(f"=== {variant}: {engine.num_layers} layer(s) in the engine")
        for line in runner.layers():
            print(f"  {line}")
        outputs[variant] = sample(runner.run("y"), variant)
        passed = check(variant, outputs[variant], expected[variant]) and passed
        rows.append((variant, engine.num_layers) + runner.time())
        runner.free()
        del runner, engine
    print(f"\n{RUNS} runs after {WARMUP} warm-up runs, CUDA events, {SETTING}")
    print(f"| variant | engine layers | median (ms) | p90 (ms) | median / {VARIANTS[0]} |")
    print("|---|---:|---:|---:|---:|")
    for variant, layers, median, p90 in rows:
        print(f"| {variant} | {layers} | {median:.4f} | {p90:.4f} | {median / rows[0][2]:.2f} |")
    np.savez("main.output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
