#!/usr/bin/env python3
"""08-Advance/HardwareCompatibility: config.hardware_compatibility_level = HardwareCompatibilityLevel.AMPERE_PLUS
builds a plan that runs on any Ampere or newer GPU (not only on the GPU model that built it); its cost on this GPU
in plan size and latency, measured.

NvInfer.h: AMPERE_PLUS "will limit the max shared memory usage to 48KiB, may reduce the number of available tactics
for each layer, and may prevent some fusions from occurring ... This option will disable cuDNN, cuBLAS, and cuBLAS LT
as tactic sources." The default (NONE) plan runs only on the GPU model it was built on.
Network (FP16 allowed): x [4,64,56,56] -> 3 x (Conv 3x3, 64 maps, padding 1, no bias -> ReLU) -> average pool 14x14
-> y [4,64,4,4]. Built twice, NONE and AMPERE_PLUS, both with the same network.
Checked: engine.hardware_compatibility_level reads back what was set; both engines' outputs against float64 numpy
(FP16 tolerance). Measured: plan size, build time, latency (median and p90 of RUNS runs, CUDA events), printed as a
markdown table and saved to main.timings.json (reported, not checked). Running the plan on another GPU model is not
shown: this machine has one GPU.
"""
import json
import sys
import time

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

SHAPE, CHANNELS, LAYERS, POOL = (4, 64, 56, 56), 64, 3, 14
LEVELS = ("NONE", "AMPERE_PLUS")
RUNS, WARMUP = 200, 20
# FP16 engines against float64 numpy: three convolutions over 576 products each.
TOLERANCE = {"rtol": 1e-2, "atol": 1e-2}


def make_inputs():
    rng = np.random.default_rng(8600)
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
    outputs = {f"outputT0_{level}": y.astype(np.float32) for level in LEVELS}
    outputs.update({f"level_reads_back_{level}": np.array(True) for level in LEVELS})
    return outputs


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(logger, inputs, level):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    config.hardware_compatibility_level = level  # the topic
    y = network.add_input("inputT0", trt.float32, SHAPE)
    for w in inputs["W"]:
        conv = network.add_convolution_nd(y, CHANNELS, (3, 3), trt.Weights(w), trt.Weights())  # no bias
        conv.padding_nd = (1, 1)
        y = network.add_activation(conv.get_output(0), trt.ActivationType.RELU).get_output(0)
    pool = network.add_pooling_nd(y, trt.PoolingType.AVERAGE, (POOL, POOL))
    pool.stride_nd = (POOL, POOL)
    pool.get_output(0).name = "outputT0"
    network.mark_output(pool.get_output(0))
    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    build_s = time.perf_counter() - t0
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine, serialized.nbytes, build_s


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
    logger = trt.Logger(trt.Logger.ERROR)
    inputs = make_inputs()
    expected = reference(inputs)
    outputs, rows = {}, {}
    for name in LEVELS:
        level = getattr(trt.HardwareCompatibilityLevel, name)
        engine, plan_bytes, build_s = build_engine(logger, inputs, level)
        print(f"{name}: engine.hardware_compatibility_level = {engine.hardware_compatibility_level}")
        outputs[f"level_reads_back_{name}"] = np.array(engine.hardware_compatibility_level == level)
        outputs[f"outputT0_{name}"], median, p90 = run_and_time(engine, inputs["inputT0"])
        rows[name] = {"plan_bytes": plan_bytes, "build_s": build_s, "median_ms": median, "p90_ms": p90}
    passed = True
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

    print(f"\n| hardware_compatibility_level | plan (bytes) | build (s) | median (ms) | p90 (ms) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['plan_bytes']} | {r['build_s']:.1f} | {r['median_ms']:.4f} | {r['p90_ms']:.4f} |")
    with open("main.timings.json", "w") as f:
        json.dump({"runs": RUNS, "levels": rows}, f, indent=1)
    print("(timings saved to main.timings.json; they are reported, not checked)")
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
