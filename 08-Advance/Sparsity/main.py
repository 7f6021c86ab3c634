#!/usr/bin/env python3
"""08-Advance/Sparsity: 2:4 structured sparsity (BuilderFlag.SPARSE_WEIGHTS) on a convolution large enough for
sparse tensor-core kernels to matter; dense vs sparse latency measured, and what the builder and the engine inspector
say about the kernels chosen.

Network (FP16): x [8,1024,40,40] float16 -> Convolution 1x1, 1024 -> 1024 maps, no bias (a GEMM of 12800 x 1024 x
1024) -> average pool 40x40 -> y [8,1024,1,1] float32. The kernel is pruned 2:4 along the input channels: in every
group of 4 consecutive input channels of each output map the 2 weights of smallest magnitude are 0 (the pattern
sparse tensor cores need; NVIDIA's tools prune trained networks this way, then fine-tune).
Built twice with the same pruned weights, ProfilingVerbosity.DETAILED: without SPARSE_WEIGHTS (dense kernels) and with
it (TensorRT may pick a sparse kernel where it times faster).
Checked: both outputs against float64 numpy (FP16 tolerance); the engine inspector's HasSparseWeights of the dense
build's convolution is 0 (without SPARSE_WEIGHTS the builder may not use sparse weights). Printed, not checked (the
flag allows, it does not force): HasSparseWeights and TacticName of the SPARSE_WEIGHTS build's convolution, and the
builder's "(Sparsity)" INFO messages (the layers eligible for sparse math, the layers for which it picked a sparse
implementation). Seen with TensorRT 8.6.0 on an H200: both lists printed empty for this 1x1 convolution, while the
SPARSE_WEIGHTS engine's inspector said HasSparseWeights = 1. Timed: median and p90 of RUNS runs (CUDA events),
printed as a markdown table and saved to main.timings.json (reported, not checked).
02-API/BuilderConfig/SparseWeights.py shows the flag on a smaller layer.
"""
import json
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

SHAPE, MAPS = (8, 1024, 40, 40), 1024
RUNS, WARMUP = 200, 20
# FP16 convolution (sums of 512 non-zero products) then a mean over 1600 pixels; outputs are O(1).
TOLERANCE = {"rtol": 1e-2, "atol": 1e-2}


def make_inputs():
    rng = np.random.default_rng(24)
    n, c, h, w = SHAPE
    # a per-channel offset keeps each channel's mean O(1), so that the pooled outputs are not all near 0
    x = rng.standard_normal(SHAPE) + rng.standard_normal((n, c, 1, 1))
    kernel = rng.standard_normal((MAPS, c // 4, 4)) / np.sqrt(c / 2)
    smallest = np.argsort(np.abs(kernel), axis=-1)[..., :2]   # 2 of every 4 input channels become 0
    np.put_along_axis(kernel, smallest, 0, axis=-1)
    return {"inputT0": x.astype(np.float16), "kernel": kernel.reshape(MAPS, c, 1, 1).astype(np.float32)}


def reference(inputs):
    # average pool of a 1x1 convolution = the convolution of the average (both are linear)
    mean = inputs["inputT0"].astype(np.float64).mean(axis=(2, 3))                # [N, C]
    y = (mean @ inputs["kernel"][:, :, 0, 0].astype(np.float64).T)[:, :, None, None]
    return {"outputT0_dense": y.astype(np.float32), "outputT0_sparse": y.astype(np.float32),
            "dense_has_sparse_weights": np.array(False)}  # SPARSE_WEIGHTS not set: no sparse weights allowed


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class SparsityLogger(trt.ILogger):
    """Keeps the builder's "(Sparsity)" INFO messages, prints warnings and errors."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.sparsity = []

    def log(self, severity, msg):
        if "(Sparsity)" in msg:
            self.sparsity.append(msg)
        elif int(severity) <= int(trt.ILogger.Severity.WARNING):
            print(f"[TRT] {severity.name}: {msg}")


def build_engine(logger, inputs, sparse):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    if sparse:
        config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)  # the topic
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # kernel names in the inspector
    x = network.add_input("inputT0", trt.float16, SHAPE)
    conv = network.add_convolution_nd(x, MAPS, (1, 1), trt.Weights(inputs["kernel"]), trt.Weights())
    conv.name = "SparseConv"
    pool = network.add_pooling_nd(conv.get_output(0), trt.PoolingType.AVERAGE, SHAPE[2:])
    pool.get_output(0).name = "outputT0"
    network.mark_output(pool.get_output(0))
    pool.get_output(0).dtype = trt.float32  # stated, not left to type inference from the float16 input
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine


def conv_tactics(engine, context):
    """The engine inspector's layers whose name mentions the convolution: (name, TacticName, HasSparseWeights)."""
    inspector = engine.create_engine_inspector()
    inspector.execution_context = context
    layers = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON), strict=False)["Layers"]
    return [(layer.get("Name"), layer.get("TacticName"), layer.get("HasSparseWeights"))
            for layer in layers if isinstance(layer, dict) and "SparseConv" in layer.get("Name", "")]


def run_and_time(engine, x):
    """One inference (returned), then median and p90 (ms) of RUNS inferences between two CUDA events."""
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
    tactics = conv_tactics(engine, context)
    for event in (start, end):
        check_cuda(cudart.cudaEventDestroy(event))
    for pointer in (d_x, d_y):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return y, float(np.median(times)), float(np.percentile(times, 90)), tactics


def main():
    logger = SparsityLogger()
    inputs = make_inputs()
    expected = reference(inputs)
    outputs, rows = {}, {}
    for kind in ("dense", "sparse"):
        logger.sparsity = []
        engine = build_engine(logger, inputs, sparse=kind == "sparse")
        print(f"=== SPARSE_WEIGHTS {'set' if kind == 'sparse' else 'not set'}")
        for text in logger.sparsity:
            print(f"  [builder INFO] {text[:300]}")
        y, median, p90, tactics = run_and_time(engine, inputs["inputT0"])
        outputs[f"outputT0_{kind}"] = y
        if not tactics:  # the HasSparseWeights reading below needs the convolution's entry
            raise RuntimeError("the engine inspector lists no layer named after SparseConv")
        for name, tactic, has_sparse in tactics:
            print(f"  inspector: {name}: TacticName = {tactic}, HasSparseWeights = {has_sparse}")
        picked = [t for t in logger.sparsity if "picked sparse implementation" in t]
        eligible = [t for t in logger.sparsity if "eligible for sparse math" in t]
        has_sparse = any(str(flag) == "1" for _, _, flag in tactics)
        print(f"  observation (not a check): HasSparseWeights = 1 in the inspector: {has_sparse}; the builder's "
              f"eligible list: {eligible[0].split(':', 1)[-1].strip() or '(empty)' if eligible else '(no message)'}; "
              f"its picked list: {picked[0].split(':', 1)[-1].strip() or '(empty)' if picked else '(no message)'}")
        rows[kind] = {"median_ms": median, "p90_ms": p90, "has_sparse_weights": has_sparse}
        if kind == "dense":
            outputs["dense_has_sparse_weights"] = np.array(has_sparse)
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

    print(f"\n| weights | SPARSE_WEIGHTS | HasSparseWeights (inspector) | median (ms) | p90 (ms) |")
    print("|---|---|---|---:|---:|")
    for kind, r in rows.items():
        print(f"| 2:4 pruned | {'set' if kind == 'sparse' else 'not set'} | {int(r['has_sparse_weights'])} | "
              f"{r['median_ms']:.4f} | {r['p90_ms']:.4f} |")
    with open("main.timings.json", "w") as f:
        json.dump({"runs": RUNS, "engines": rows}, f, indent=1)
    print("(timings saved to main.timings.json; they are reported, not checked)")
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
