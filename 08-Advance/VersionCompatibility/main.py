#!/usr/bin/env python3
"""08-Advance/VersionCompatibility: BuilderFlag.VERSION_COMPATIBLE plans (loadable by later TensorRT versions),
runtime.engine_host_code_allowed, the lean runtime and runtime.load_runtime, as far as this installation allows.

NvInfer.h: VERSION_COMPATIBLE restricts the engine to what the lean runtime (libnvinfer_lean.so, a small library that
only deserializes and runs plans) supports; by default the builder copies that lean runtime into the plan, which is
host code, so a runtime loads such a plan only with engine_host_code_allowed = True. With EXCLUDE_LEAN_RUNTIME as well,
the plan holds no lean runtime: a TensorRT of another version runs it through runtime.load_runtime(path to the
libnvinfer_lean.so of the TensorRT that built it).
The TensorRT 8.6.0 early-access bundle of our GPU machine has no lean runtime library. So:
1. default plan: built, run, timed (the reference point)
2. VERSION_COMPATIBLE with the lean runtime embedded: needs the library; checked: it builds, or it fails with a
   message naming libnvinfer_lean (captured by a logger)
3. VERSION_COMPATIBLE + EXCLUDE_LEAN_RUNTIME: built, loaded by the full runtime with engine_host_code_allowed False
   (checked: no host code inside), run, timed; plan size and latency against the default measured
4. load_runtime(libnvinfer_lean.so) and running plan 3 with the lean runtime: done when the library is found, else
   skipped with the reason printed.
Network (FP16 allowed): x [4,64,56,56] -> 3 x (Conv 3x3, 64 maps, padding 1 -> ReLU) -> average pool 14x14 -> y
[4,64,4,4], as in ../HardwareCompatibility. Outputs against float64 numpy; timings (median and p90 of RUNS runs, CUDA
events) printed as a markdown table and saved to main.timings.json (reported, not checked).
"""
import glob
import json
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

SHAPE, CHANNELS, LAYERS, POOL = (4, 64, 56, 56), 64, 3, 14
RUNS, WARMUP = 200, 20
# FP16 engines against float64 numpy: three convolutions over 576 products each.
TOLERANCE = {"rtol": 1e-2, "atol": 1e-2}


def make_inputs():
    rng = np.random.default_rng(8601)
    return {"inputT0": rng.standard_normal(SHAPE).astype(np.float32),
            "W": (rng.standard_normal((LAYERS, CHANNELS, CHANNELS, 3, 3)) * np.sqrt(2 / (9 * CHANNELS))).astype(
                np.float32)}


def conv3x3(x, w):
    """NCHW convolution, stride 1, padding 1, no bias (float64)."""
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), (2, 3))
    return np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)


def reference(inputs):
    y = inputs["inputT0"].astype(np.float64)
    for w in inputs["W"].astype(np.float64):
        y = np.maximum(conv3x3(y, w), 0)
    n, c, h, w = y.shape
    y = y.reshape(n, c, h // POOL, POOL, w // POOL, POOL).mean(axis=(3, 5))
    return {"outputT0_default": y.astype(np.float32), "outputT0_version_compatible": y.astype(np.float32),
            "embedded_build_needs_lean_library": np.array(True), "loads_without_host_code": np.array(True)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class Logger(trt.ILogger):
    """Prints and keeps every message of severity WARNING or worse."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(trt.ILogger.Severity.WARNING):
            self.messages.append(msg)
            print(f"  [TensorRT {severity.name}] {msg}")


def find_lean_runtime():
    """The lean runtime library of this TensorRT, searched where the loader and the tensorrt package keep libraries."""
    folders = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    package = os.path.dirname(os.path.abspath(trt.__file__))
    folders += [package, os.path.join(os.path.dirname(package), "tensorrt_libs"), "/usr/lib/x86_64-linux-gnu"]
    for folder in folders:
        found = sorted(glob.glob(os.path.join(folder, "libnvinfer_lean.so*")))
        if found:
            return found[0], folders
    return None, folders


def build_plan(logger, inputs, flags):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    for flag in flags:  # the topic
        config.set_flag(flag)
    y = network.add_input("inputT0", trt.float32, SHAPE)
    for w in inputs["W"]:
        conv = network.add_convolution_nd(y, CHANNELS, (3, 3), trt.Weights(w), trt.Weights())  # no bias
        conv.padding_nd = (1, 1)
        y = network.add_activation(conv.get_output(0), trt.ActivationType.RELU).get_output(0)
    pool = network.add_pooling_nd(y, trt.PoolingType.AVERAGE, (POOL, POOL))
    pool.stride_nd = (POOL, POOL)
    pool.get_output(0).name = "outputT0"
    network.mark_output(pool.get_output(0))
    return builder.build_serialized_network(network, config)  # None when the build fails


def run_and_time(engine, x):
    """WARMUP + RUNS inferences; the output and the median and p90 (ms) of the last RUNS, from CUDA events."""
    context = engine.create_execution_context()
    stream = check_cuda(cudart.cudaStreamCreate())
    y = np.empty(tuple(context.get_tensor_shape("outputT0")), dtype=np.float32)
    d_x, d_y = check_cuda(cudart.cudaMalloc(x.nbytes)), check_cuda(cudart.cudaMalloc(y.nbytes))
    context.set_tensor_address("inputT0", d_x)
    context.set_tensor_address("outputT0", d_y)
    check_cuda(cudart.cudaMemcpyAsync(d_x, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                      stream))
    start, end = check_cuda(cudart.cudaEventCreate()), check_cuda(cudart.cudaEventCreate())
    times = []
    for i in range(WARMUP + RUNS):
        check_cuda(cudart.cudaEventRecord(start, stream))
        if not context.execute_async_v3(int(stream)):
            raise RuntimeError("execute_async_v3 failed")
        check_cuda(cudart.cudaEventRecord(end, stream))
        check_cuda(cudart.cudaEventSynchronize(end))
        if i >= WARMUP:
            times.append(check_cuda(cudart.cudaEventElapsedTime(start, end)))
    check_cuda(cudart.cudaMemcpyAsync(y.ctypes.data, d_y, y.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost,
                                      stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for event in (start, end):
        check_cuda(cudart.cudaEventDestroy(event))
    for pointer in (d_x, d_y):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return y, float(np.median(times)), float(np.percentile(times, 90))


def main():
    logger = Logger()
    inputs = make_inputs()
    expected = reference(inputs)
    lean_path, searched = find_lean_runtime()
    print(f"lean runtime library: {lean_path or 'not found in ' + ', '.join(searched)}")
    runtime = trt.Runtime(logger)
    print(f"runtime.engine_host_code_allowed = {runtime.engine_host_code_allowed} (default)")
    outputs, rows = {}, {}

    print("=== 1. default plan")
    plan = build_plan(logger, inputs, [])
    if plan is None:
        raise RuntimeError("the default build failed (see the TensorRT log above)")
    engine = runtime.deserialize_cuda_engine(plan)
    outputs["outputT0_default"], median, p90 = run_and_time(engine, inputs["inputT0"])
    rows["default"] = {"plan_bytes": plan.nbytes, "median_ms": median, "p90_ms": p90}

    print("=== 2. VERSION_COMPATIBLE, lean runtime embedded (the default of the flag)")
    logger.messages.clear()
    embedded = build_plan(logger, inputs, [trt.BuilderFlag.VERSION_COMPATIBLE])
    named = any("libnvinfer_lean" in m for m in logger.messages)
    print(f"built: {embedded is not None}; a message names libnvinfer_lean: {named}")
    # either TensorRT found its lean runtime (the build works), or the failure names the missing library
    outputs["embedded_build_needs_lean_library"] = np.array(embedded is not None or named)
    if embedded is not None:  # an installation with the lean runtime: the plan carries host code
        runtime.engine_host_code_allowed = True  # only for plans you trust
        print(f"  plan {embedded.nbytes} bytes; deserialized with engine_host_code_allowed = True: "
              f"{runtime.deserialize_cuda_engine(embedded) is not None}")
        runtime.engine_host_code_allowed = False

    print("=== 3. VERSION_COMPATIBLE + EXCLUDE_LEAN_RUNTIME")
    plan = build_plan(logger, inputs, [trt.BuilderFlag.VERSION_COMPATIBLE, trt.BuilderFlag.EXCLUDE_LEAN_RUNTIME])
    if plan is None:
        raise RuntimeError("the version-compatible build failed (see the TensorRT log above)")
    engine = runtime.deserialize_cuda_engine(plan)  # engine_host_code_allowed is False here
    outputs["loads_without_host_code"] = np.array(engine is not None)
    print(f"deserialized with engine_host_code_allowed = False: {engine is not None}")
    if engine is None:
        raise RuntimeError("the version-compatible plan did not load (see the TensorRT log above)")
    outputs["outputT0_version_compatible"], median, p90 = run_and_time(engine, inputs["inputT0"])
    rows["VERSION_COMPATIBLE + EXCLUDE_LEAN_RUNTIME"] = {"plan_bytes": plan.nbytes, "median_ms": median,
                                                         "p90_ms": p90}
    passed = True

    print("=== 4. the lean runtime: runtime.load_runtime(path)")
    if lean_path is None:
        print("skipped: this TensorRT installation has no lean runtime library (libnvinfer_lean.so.8); the "
              "TensorRT 8.6.0 early-access bundle of the GPU machine does not ship it")
    else:
        lean_runtime = runtime.load_runtime(lean_path)
        lean_engine = None if lean_runtime is None else lean_runtime.deserialize_cuda_engine(plan)
        if lean_engine is None:
            print("check result: False, load_runtime or the lean runtime's deserialize_cuda_engine failed")
            passed = False
        else:
            y, median, p90 = run_and_time(lean_engine, inputs["inputT0"])
            same = bool(np.allclose(y, expected["outputT0_version_compatible"], **TOLERANCE))
            print(f"check result: {same}, the lean runtime's output")
            passed = passed and same
            rows["the same plan, lean runtime"] = {"plan_bytes": plan.nbytes, "median_ms": median, "p90_ms": p90}

    for name, want in expected.items():
        got = outputs[name]
        if want.dtype == bool:
            same = bool(got == want)
            print(f"check result: {same}, {name}: {bool(got)}")
        else:
            same = bool(np.allclose(got, want, **TOLERANCE))
            print(f"check result: {same}, {name}: max abs error = {float(np.max(np.abs(got - want))):.3e}")
        passed = passed and same
    np.savez("main.output.npz", **outputs)

    print("\n| plan | size (bytes) | median (ms) | p90 (ms) |\n|---|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['plan_bytes']} | {r['median_ms']:.4f} | {r['p90_ms']:.4f} |")
    with open("main.timings.json", "w") as f:
        json.dump({"runs": RUNS, "plans": rows}, f, indent=1)
    print("(timings saved to main.timings.json; they are reported, not checked)")
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
