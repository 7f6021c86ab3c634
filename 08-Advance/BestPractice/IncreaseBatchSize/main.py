#!/usr/bin/env python3
"""08-Advance/BestPractice/IncreaseBatchSize: latency and throughput of one engine over batch sizes 1 .. 1024,
measured, printed as a table and plotted (matplotlib) to main.latency_throughput.png.

Network (FP32, TF32 cleared): x [b, 1024] -> MatMul [1024, 4096] -> ReLU -> MatMul [4096, 1024] -> y [b, 1024],
the batch dimension dynamic, one optimization profile (min 1, opt 256, max 1024). One execution context runs each
batch: set_input_shape, one run whose output is checked against float64 numpy (the first rows are saved), then
RUNS timed executions after WARMUP (CUDA events around execute_async_v3 alone; inputs copied once). Throughput is
batch / median latency. Small batches leave most of the GPU idle, so their latency barely grows with the batch
and throughput rises almost in proportion; once the GPU is busy, latency grows with the batch and throughput
levels off. Where that knee lies on your GPU is what the table shows: pick the largest batch whose latency your
application accepts.
"""
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-4}  # FP32 without TF32 against float64 numpy: sums of 1024 and 4096 terms
BATCHES = tuple(2 ** i for i in range(11))  # 1 .. 1024
PROFILE = (1, 256, 1024)  # min, opt, max of the batch dimension
WIDTH, HIDDEN = 1024, 4096
SAMPLE_ROWS, SAMPLE_COLUMNS = 4, slice(None, None, 16)  # saved per batch: y[:4, ::16]
RUNS, WARMUP = 100, 10
PLOT = "main.latency_throughput.png"


def make_inputs():
    rng = np.random.default_rng(256)
    return {"x": rng.standard_normal((max(BATCHES), WIDTH)).astype(np.float32),
            "W1": (rng.standard_normal((WIDTH, HIDDEN)) / np.sqrt(WIDTH)).astype(np.float32),
            "W2": (rng.standard_normal((HIDDEN, WIDTH)) / np.sqrt(HIDDEN)).astype(np.float32)}


def reference(inputs):
    """The first rows of each batch's output (every batch starts with the same rows of x: the outputs of one
    sample must not depend on the batch it runs in)."""
    x = inputs["x"][:SAMPLE_ROWS].astype(np.float64)
    y = np.maximum(x @ inputs["W1"].astype(np.float64), 0) @ inputs["W2"].astype(np.float64)
    y = y[:, SAMPLE_COLUMNS].astype(np.float32)
    return {f"y_b{b}": y[:min(b, SAMPLE_ROWS)] for b in BATCHES}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build(logger, inputs):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    x = network.add_input("x", trt.float32, (-1, WIDTH))
    w1 = network.add_constant(inputs["W1"].shape, trt.Weights(inputs["W1"])).get_output(0)
    w2 = network.add_constant(inputs["W2"].shape, trt.Weights(inputs["W2"])).get_output(0)
    h = network.add_matrix_multiply(x, trt.MatrixOperation.NONE, w1, trt.MatrixOperation.NONE).get_output(0)
    h = network.add_activation(h, trt.ActivationType.RELU).get_output(0)
    y = network.add_matrix_multiply(h, trt.MatrixOperation.NONE, w2, trt.MatrixOperation.NONE).get_output(0)
    y.name = "y"
    network.mark_output(y)
    profile = builder.create_optimization_profile()
    profile.set_shape("x", *[(b, WIDTH) for b in PROFILE])
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine


def measure(context, stream):
    """Median and p90 (ms) of RUNS executions after WARMUP, each between two CUDA events."""
    start, end = check_cuda(cudart.cudaEventCreate()), check_cuda(cudart.cudaEventCreate())
    for _ in range(WARMUP):
        if not context.execute_async_v3(int(stream)):
            raise RuntimeError("execute_async_v3 failed")
    times = []
    for _ in range(RUNS):
        check_cuda(cudart.cudaEventRecord(start, stream))
        if not context.execute_async_v3(int(stream)):
            raise RuntimeError("execute_async_v3 failed")
        check_cuda(cudart.cudaEventRecord(end, stream))
        check_cuda(cudart.cudaEventSynchronize(end))
        times.append(check_cuda(cudart.cudaEventElapsedTime(start, end)))
    for event in (start, end):
        check_cuda(cudart.cudaEventDestroy(event))
    return float(np.median(times)), float(np.percentile(times, 90))


def plot(rows):
    """Latency and throughput against the batch size, two panels, to PLOT (skipped without matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        print(f"matplotlib is not installed: no {PLOT} (pip install matplotlib)")
        return
    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    batches = [r[0] for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(batches, [r[1] for r in rows], "o-", label="median")
    left.plot(batches, [r[2] for r in rows], "x--", label="p90")
    left.set(xscale="log", yscale="log", xlabel="batch size", ylabel="latency (ms)", title="latency")
    left.legend()
    right.plot(batches, [r[3] for r in rows], "o-")
    right.set(xscale="log", xlabel="batch size", ylabel="samples / s", title="throughput (batch / median)")
    for axis in (left, right):
        axis.set_xticks(batches)
        axis.set_xticklabels([str(b) for b in batches])
        axis.grid(True, which="both", alpha=0.3)
    figure.suptitle(f"MLP {WIDTH}-{HIDDEN}-{WIDTH}, FP32, TensorRT {trt.__version__}")
    figure.tight_layout()
    figure.savefig(PLOT, dpi=100)
    print(f"plotted to {PLOT}")


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    inputs = make_inputs()
    expected = reference(inputs)
    engine = build(logger, inputs)
    context = engine.create_execution_context()
    stream = check_cuda(cudart.cudaStreamCreate())
    most = max(BATCHES)
    d_x = check_cuda(cudart.cudaMalloc(most * WIDTH * 4))
    d_y = check_cuda(cudart.cudaMalloc(most * WIDTH * 4))
    check_cuda(cudart.cudaMemcpy(d_x, inputs["x"].ctypes.data, inputs["x"].nbytes,
                                 cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))  # batch b reads the first b rows
    context.set_tensor_address("x", d_x)
    context.set_tensor_address("y", d_y)
    passed, outputs, rows = True, {}, []
    for b in BATCHES:
        if not context.set_input_shape("x", (b, WIDTH)):
            raise RuntimeError(f"set_input_shape({b}, {WIDTH}) failed")
        if not context.execute_async_v3(int(stream)):
            raise RuntimeError("execute_async_v3 failed")
        y = np.empty(tuple(context.get_tensor_shape("y")), dtype=np.float32)
        check_cuda(cudart.cudaMemcpyAsync(y.ctypes.data, d_y, y.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
        check_cuda(cudart.cudaStreamSynchronize(stream))
        got, want = y[:SAMPLE_ROWS, SAMPLE_COLUMNS], expected[f"y_b{b}"]
        outputs[f"y_b{b}"] = got
        same = got.shape == want.shape and bool(np.allclose(got, want, **TOLERANCE))
        error = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("nan")
        print(f"check result: {same}, batch {b}: y {y.shape}, max abs error of the first rows = {error:.3e}")
        passed = passed and same
        median, p90 = measure(context, stream)
        rows.append((b, median, p90, b / median * 1000))
    print(f"\n{RUNS} runs after {WARMUP} warm-up runs per batch, CUDA events, one profile {PROFILE}")
    print("| batch | median (ms) | p90 (ms) | throughput (samples/s) | median / batch-1 median |")
    print("|---:|---:|---:|---:|---:|")
    for b, median, p90, throughput in rows:
        print(f"| {b} | {median:.4f} | {p90:.4f} | {throughput:,.0f} | {median / rows[0][1]:.2f} |")
    plot(rows)
    for pointer in (d_x, d_y):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    np.savez("main.output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
