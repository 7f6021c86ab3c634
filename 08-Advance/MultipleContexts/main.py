#!/usr/bin/env python3
"""08-Advance/MultipleContexts: one engine used by several Python threads at once, each thread with its own
execution context, CUDA stream and buffers; PreviewFeature.PROFILE_SHARING_0806 lets every context use the same
optimization profile.

Network: x [-1,256] -> MatMul [256,1024] -> ReLU -> MatMul [1024,64] -> y, FP32 with TF32 cleared, one profile for
batch 1..256. Rules shown:
- The engine (weights, kernels) is shared and read-only; an execution context holds the per-inference state
  (shapes, tensor addresses, scratch memory), so each thread needs its own context and its own stream (one context
  must not run on two streams at the same time).
- In TensorRT 8.6 a profile serves one context at a time, unless the builder config sets
  PreviewFeature.PROFILE_SHARING_0806 ("Allows optimization profiles to be shared across execution contexts",
  NvInfer.h; the default from TensorRT 9/10 on). The script prints active_optimization_profile of two contexts of
  an engine built without the feature and of the engine built with it.
- THREADS threads each run their own batch (16, 32, 64, 128: different shapes on the one shared profile) RUNS times.
Checked: every thread's last output against float64 numpy, for the threaded run and for a sequential run of the same
work in one thread. Timed: the wall time of all THREADS x RUNS inferences, threaded vs sequential, and the median and
p90 per inference (CUDA events); printed as a markdown table and saved to main.timings.json (reported, not checked).
The threads overlap only where the GIL is released: TensorRT's bindings release it inside execute_async_v3 (a
pybind11 call_guard in NVIDIA/TensorRT python/src/infer/pyCore.cpp); the wall times show the result.
"""
import json
import sys
import threading
import time

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

BATCHES = (16, 32, 64, 128)   # one per thread
WIDTHS = (256, 1024, 64)
RUNS, WARMUP = 100, 10
# FP32 without TF32 against float64 numpy; sums over up to 1024 products of O(1) values.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-4}


def make_inputs():
    rng = np.random.default_rng(806)
    inputs = {f"inputT0_t{t}": rng.standard_normal((b, WIDTHS[0])).astype(np.float32) for t, b in enumerate(BATCHES)}
    for i, (k, n) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        inputs[f"W{i}"] = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    return inputs


def reference(inputs):
    w0, w1 = inputs["W0"].astype(np.float64), inputs["W1"].astype(np.float64)
    return {f"outputT0_t{t}": (np.maximum(inputs[f"inputT0_t{t}"] @ w0, 0) @ w1).astype(np.float32)
            for t in range(len(BATCHES))}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(logger, inputs, profile_sharing):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    config.set_preview_feature(trt.PreviewFeature.PROFILE_SHARING_0806, profile_sharing)
    x = network.add_input("inputT0", trt.float32, (-1, WIDTHS[0]))
    w0 = network.add_constant(inputs["W0"].shape, trt.Weights(inputs["W0"]))
    w1 = network.add_constant(inputs["W1"].shape, trt.Weights(inputs["W1"]))
    h = network.add_matrix_multiply(x, trt.MatrixOperation.NONE, w0.get_output(0), trt.MatrixOperation.NONE)
    relu = network.add_activation(h.get_output(0), trt.ActivationType.RELU)
    y = network.add_matrix_multiply(relu.get_output(0), trt.MatrixOperation.NONE, w1.get_output(0),
                                    trt.MatrixOperation.NONE)
    y.get_output(0).name = "outputT0"
    network.mark_output(y.get_output(0))
    profile = builder.create_optimization_profile()
    profile.set_shape("inputT0", (1, WIDTHS[0]), (64, WIDTHS[0]), (max(BATCHES) * 2, WIDTHS[0]))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine


class Worker:
    """What one thread owns: an execution context, a stream, device buffers, its input and its timings."""

    def __init__(self, engine, x):
        self.context = engine.create_execution_context()
        self.stream = check_cuda(cudart.cudaStreamCreate())
        self.x = x
        if not self.context.set_input_shape("inputT0", x.shape):
            raise RuntimeError(f"set_input_shape{x.shape} failed")
        self.y = np.empty(tuple(self.context.get_tensor_shape("outputT0")), dtype=np.float32)
        self.d_x = check_cuda(cudart.cudaMalloc(x.nbytes))
        self.d_y = check_cuda(cudart.cudaMalloc(self.y.nbytes))
        self.context.set_tensor_address("inputT0", self.d_x)
        self.context.set_tensor_address("outputT0", self.d_y)
        self.start, self.end = check_cuda(cudart.cudaEventCreate()), check_cuda(cudart.cudaEventCreate())
        self.times, self.error = [], None

    def infer(self):
        """One inference: copy in, execute, copy out, wait; returns its GPU time (ms) from two CUDA events."""
        check_cuda(cudart.cudaEventRecord(self.start, self.stream))
        check_cuda(cudart.cudaMemcpyAsync(self.d_x, self.x.ctypes.data, self.x.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("execute_async_v3 failed")
        check_cuda(cudart.cudaMemcpyAsync(self.y.ctypes.data, self.d_y, self.y.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        check_cuda(cudart.cudaEventRecord(self.end, self.stream))
        check_cuda(cudart.cudaEventSynchronize(self.end))
        return check_cuda(cudart.cudaEventElapsedTime(self.start, self.end))

    def loop(self, runs):
        try:  # an exception in a thread would otherwise only be printed: keep it for main() to raise
            self.times += [self.infer() for _ in range(runs)]
        except RuntimeError as error:
            self.error = error

    def free(self):
        for pointer in (self.d_x, self.d_y):
            check_cuda(cudart.cudaFree(pointer))
        for event in (self.start, self.end):
            check_cuda(cudart.cudaEventDestroy(event))
        check_cuda(cudart.cudaStreamDestroy(self.stream))


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    inputs = make_inputs()
    expected = reference(inputs)

    print("=== without PROFILE_SHARING_0806: contexts of one engine and their profiles")
    engine = build_engine(logger, inputs, profile_sharing=False)
    contexts = [engine.create_execution_context() for _ in range(2)]
    for i, context in enumerate(contexts):  # printed, not checked
        profile = None if context is None else context.active_optimization_profile
        print(f"context {i}: {'None' if context is None else 'created'}, active_optimization_profile = {profile}")
    del contexts, engine

    print("=== with PROFILE_SHARING_0806")
    engine = build_engine(logger, inputs, profile_sharing=True)
    workers = [Worker(engine, inputs[f"inputT0_t{t}"]) for t in range(len(BATCHES))]
    for t, worker in enumerate(workers):
        print(f"thread {t}: batch {BATCHES[t]}, active_optimization_profile = "
              f"{worker.context.active_optimization_profile}")
    passed, timings = True, {}
    for way in ("sequential", "threads"):
        for worker in workers:  # warm-up, and an empty record of times
            worker.loop(WARMUP)
            worker.times = []
        t0 = time.perf_counter()
        if way == "sequential":  # the same work, one context after the other, in this thread
            for worker in workers:
                worker.loop(RUNS)
        else:
            threads = [threading.Thread(target=worker.loop, args=(RUNS,)) for worker in workers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        wall = (time.perf_counter() - t0) * 1000
        for worker in workers:
            if worker.error:
                raise worker.error
        times = [t for worker in workers for t in worker.times]
        timings[way] = {"wall_ms": wall, "median_ms": float(np.median(times)),
                        "p90_ms": float(np.percentile(times, 90))}
        outputs = {f"outputT0_t{t}": worker.y.copy() for t, worker in enumerate(workers)}
        for name, want in expected.items():
            same = bool(np.allclose(outputs[name], want, **TOLERANCE))
            print(f"check result: {same}, {way}, {name}: max abs error = "
                  f"{float(np.max(np.abs(outputs[name] - want))):.3e}")
            passed = passed and same
        np.savez(f"main.{way}.output.npz", **outputs)

    print(f"\n{len(workers)} contexts x {RUNS} inferences (copy in, execute, copy out, wait) each")
    print("| way | wall time (ms) | per inference median (ms) | per inference p90 (ms) |")
    print("|---|---:|---:|---:|")
    for way, t in timings.items():
        print(f"| {way} | {t['wall_ms']:.2f} | {t['median_ms']:.4f} | {t['p90_ms']:.4f} |")
    print(f"wall time sequential / threads = {timings['sequential']['wall_ms'] / timings['threads']['wall_ms']:.2f}")
    with open("main.timings.json", "w") as f:
        json.dump({"runs_per_thread": RUNS, "threads": len(workers), "timings": timings}, f, indent=1)
    print("(timings saved to main.timings.json; they are reported, not checked)")
    for worker in workers:
        worker.free()
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
