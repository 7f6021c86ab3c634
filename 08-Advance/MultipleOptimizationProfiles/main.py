#!/usr/bin/env python3
"""08-Advance/MultipleOptimizationProfiles: one wide optimization profile against several narrow ones, latency per
input shape measured; one execution context per profile, chosen with set_optimization_profile_async.

Network (FP32, TF32 cleared): x [-1,512] -> MatMul [512,2048] -> ReLU -> MatMul [2048,512] -> ReLU -> MatMul
[512,8] -> y [-1,8]; the batch dimension is dynamic.
- engine "wide": one profile, batch min 1 / opt 512 / max 1024: the builder tunes every kernel for batch 512 and
  the same kernels serve batches 1..1024.
- engine "narrow": three profiles, 1..16 (opt 8), 17..256 (opt 128), 257..1024 (opt 1024); each batch runs on the
  profile whose range holds it, with its kernels tuned for that opt shape. The engine holds a copy of the tuned
  kernels per profile (a larger plan, a longer build).
At run time context k of the narrow engine is bound to profile k with context.set_optimization_profile_async(k,
stream) (an 8.6 profile serves one context at a time). Batches 8, 128 and 1024 run on both engines: every output
is checked against float64 numpy, then each is timed (median and p90 of RUNS runs, CUDA events, one process).
The timings are printed as a markdown table and saved to main.timings.json (never checked: they depend on the GPU).
"""
import json
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

BATCHES = (8, 128, 1024)
WIDE = [(1, 512, 1024)]                                      # (min, opt, max) of the batch dimension, per profile
NARROW = [(1, 8, 16), (17, 128, 256), (257, 1024, 1024)]
WIDTHS = (512, 2048, 512, 8)                                 # x width, then each MatMul's output width
RUNS, WARMUP = 200, 20
# FP32 without TF32 against float64 numpy; sums over up to 2048 products of O(1) values.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-4}


def make_inputs():
    rng = np.random.default_rng(8086)
    inputs = {f"inputT0_b{b}": rng.standard_normal((b, WIDTHS[0])).astype(np.float32) for b in BATCHES}
    for i, (k, n) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):  # N(0, 1/k): every layer's output stays O(1)
        inputs[f"W{i}"] = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    return inputs


def reference(inputs):
    outputs = {}
    for b in BATCHES:
        y = inputs[f"inputT0_b{b}"].astype(np.float64)
        for i in range(len(WIDTHS) - 1):
            y = y @ inputs[f"W{i}"].astype(np.float64)
            y = np.maximum(y, 0) if i < len(WIDTHS) - 2 else y
        outputs[f"outputT0_b{b}"] = y.astype(np.float32)
    return outputs


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(logger, inputs, profiles):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 checked to 1e-5: no TF32 matrix multiplies
    y = network.add_input("inputT0", trt.float32, (-1, WIDTHS[0]))
    for i in range(len(WIDTHS) - 1):
        w = network.add_constant(inputs[f"W{i}"].shape, trt.Weights(inputs[f"W{i}"]))
        y = network.add_matrix_multiply(y, trt.MatrixOperation.NONE, w.get_output(0),
                                        trt.MatrixOperation.NONE).get_output(0)
        if i < len(WIDTHS) - 2:
            y = network.add_activation(y, trt.ActivationType.RELU).get_output(0)
    y.name = "outputT0"
    network.mark_output(y)
    for low, opt, high in profiles:
        profile = builder.create_optimization_profile()
        profile.set_shape("inputT0", (low, WIDTHS[0]), (opt, WIDTHS[0]), (high, WIDTHS[0]))
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine, serialized.nbytes


class Runner:
    """One execution context bound to one profile, with its own stream and buffers for the largest batch."""

    def __init__(self, engine, profile_index):
        self.context = engine.create_execution_context()
        self.stream = check_cuda(cudart.cudaStreamCreate())
        # choose the profile before setting shapes; the call is asynchronous on the stream
        if not self.context.set_optimization_profile_async(profile_index, int(self.stream)):
            raise RuntimeError(f"set_optimization_profile_async({profile_index}) failed (in use by another context?)")
        self.d_x = check_cuda(cudart.cudaMalloc(max(BATCHES) * WIDTHS[0] * 4))
        self.d_y = check_cuda(cudart.cudaMalloc(max(BATCHES) * WIDTHS[-1] * 4))
        self.context.set_tensor_address("inputT0", self.d_x)
        self.context.set_tensor_address("outputT0", self.d_y)

    def run(self, x):
        if not self.context.set_input_shape("inputT0", x.shape):
            raise RuntimeError(f"set_input_shape{x.shape} failed: outside the context's profile?")
        check_cuda(cudart.cudaMemcpyAsync(self.d_x, x.ctypes.data, x.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        self.execute()
        y = np.empty(tuple(self.context.get_tensor_shape("outputT0")), dtype=np.float32)
        check_cuda(cudart.cudaMemcpyAsync(y.ctypes.data, self.d_y, y.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        check_cuda(cudart.cudaStreamSynchronize(self.stream))
        return y

    def execute(self):
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("execute_async_v3 failed")

    def time(self):
        """median and p90 (ms) of RUNS inferences with the shape set last, each between two CUDA events."""
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

    def free(self):
        check_cuda(cudart.cudaFree(self.d_x))
        check_cuda(cudart.cudaFree(self.d_y))
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
    passed, results, timings = True, {"wide": {}, "narrow": {}}, {}
    for kind, profiles in (("wide", WIDE), ("narrow", NARROW)):
        engine, plan_bytes = build_engine(logger, inputs, profiles)
        print(f"engine {kind}: {engine.num_optimization_profiles} profile(s) {profiles}, plan {plan_bytes} bytes")
        runners = [Runner(engine, k) for k in range(engine.num_optimization_profiles)]
        for b in BATCHES:
            k = next(i for i, (low, _, high) in enumerate(profiles) if low <= b <= high)
            runner = runners[k]
            print(f"  batch {b}: context {k}, active_optimization_profile = "
                  f"{runner.context.active_optimization_profile}")
            results[kind][f"outputT0_b{b}"] = runner.run(inputs[f"inputT0_b{b}"])
            passed = check(f"{kind} batch {b}", results[kind][f"outputT0_b{b}"], expected[f"outputT0_b{b}"]) \
                and passed
            timings.setdefault(b, {})[kind] = runner.time() + (profiles[k],)
        for runner in runners:
            runner.free()
        del runners, engine
        np.savez(f"main.{kind}.output.npz", **results[kind])

    print("\n| batch | wide profile | median (ms) | p90 (ms) | narrow profile | median (ms) | p90 (ms) "
          "| wide / narrow |")
    print("|---:|---|---:|---:|---|---:|---:|---:|")
    for b, t in timings.items():
        (wm, wp, wprof), (nm, np90, nprof) = t["wide"], t["narrow"]
        print(f"| {b} | {wprof} | {wm:.4f} | {wp:.4f} | {nprof} | {nm:.4f} | {np90:.4f} | {wm / nm:.2f} |")
    with open("main.timings.json", "w") as f:
        json.dump({"runs": RUNS, "unit": "ms", "batches": {str(b): t for b, t in timings.items()}}, f, indent=1)
    print("(timings saved to main.timings.json; they are reported, not checked)")
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
