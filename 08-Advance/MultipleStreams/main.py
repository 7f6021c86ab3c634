#!/usr/bin/env python3
"""08-Advance/MultipleStreams: overlap host<->device copies with computation, using pinned (page-locked) host memory
and two CUDA streams, each with its own execution context; the speed-up is measured and the timeline drawn.

Workload: CHUNKS chunks of x [ROWS,256] float32 (8 MiB each) go through y = ReLU(ReLU(x @ W0) @ W1) @ W2 (FP32,
TF32 cleared); per chunk: copy x to the GPU, run the engine, copy y back. Three ways, in one process:
1. one stream, pinned host memory: copy, compute, copy, chunk after chunk, nothing overlaps
2. two streams, pageable host memory (plain numpy arrays): cudaMemcpyAsync from pageable memory returns only
   once the data is staged, so the host cannot queue ahead and little overlaps
3. two streams, pinned host memory (cudaMallocHost): chunk i runs on stream i % 2 with context i % 2; the copy
   engines move chunk i+1 while the GPU computes chunk i
An execution context may run on one stream at a time, hence one context per stream (the engine is built with
PreviewFeature.PROFILE_SHARING_0806 so that both contexts use profile 0, see ../MultipleContexts).
Checked: the first 4 rows of every chunk's output against float64 numpy, for every way; every element of the outputs
of ways 2 and 3 against those of way 1 (same engine: a chunk computed or copied into the wrong place would show).
Timed: median and p90 of RUNS runs of the whole pipeline (CUDA events), printed as a markdown table and saved to
main.timings.json (reported, not checked). One more run of ways 1 and 3 records an event around every copy and every
inference; timeline.png draws them (matplotlib).
"""
import ctypes
import json
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

CHUNKS, ROWS, WIDTH, LAYERS = 8, 8192, 256, 3
CHECKED_ROWS = 4                                   # rows of each chunk compared with numpy (rows are independent)
RUNS, WARMUP = 100, 10
H2D, D2H = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
# FP32 without TF32 against float64 numpy, sums over 256 products of O(1) values.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    rng = np.random.default_rng(2024)
    inputs = {"inputT0": rng.standard_normal((CHUNKS, ROWS, WIDTH), dtype=np.float32)}
    for i in range(LAYERS):
        inputs[f"W{i}"] = (rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)).astype(np.float32)
    return inputs


def reference(inputs):
    y = inputs["inputT0"][:, :CHECKED_ROWS, :].astype(np.float64)
    for i in range(LAYERS):
        y = y @ inputs[f"W{i}"].astype(np.float64)
        y = np.maximum(y, 0) if i < LAYERS - 1 else y
    return {"outputT0_first_rows": y.astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(logger, inputs):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    config.set_preview_feature(trt.PreviewFeature.PROFILE_SHARING_0806, True)  # several contexts, one profile
    y = network.add_input("inputT0", trt.float32, (ROWS, WIDTH))
    for i in range(LAYERS):
        w = network.add_constant((WIDTH, WIDTH), trt.Weights(inputs[f"W{i}"]))
        y = network.add_matrix_multiply(y, trt.MatrixOperation.NONE, w.get_output(0),
                                        trt.MatrixOperation.NONE).get_output(0)
        if i < LAYERS - 1:
            y = network.add_activation(y, trt.ActivationType.RELU).get_output(0)
    y.name = "outputT0"
    network.mark_output(y)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine


def pinned_empty(shape):
    """A float32 numpy array in page-locked host memory (cudaMallocHost); free it with cudaFreeHost(pointer)."""
    nbytes = int(np.prod(shape)) * 4
    pointer = check_cuda(cudart.cudaMallocHost(nbytes))
    return pointer, np.frombuffer((ctypes.c_byte * nbytes).from_address(pointer), dtype=np.float32).reshape(shape)


class Lane:
    """One stream with its own execution context and device buffers for one chunk."""

    def __init__(self, engine):
        self.stream = check_cuda(cudart.cudaStreamCreate())
        self.context = engine.create_execution_context()
        self.d_x = check_cuda(cudart.cudaMalloc(ROWS * WIDTH * 4))
        self.d_y = check_cuda(cudart.cudaMalloc(ROWS * WIDTH * 4))
        self.context.set_tensor_address("inputT0", self.d_x)
        self.context.set_tensor_address("outputT0", self.d_y)

    def free(self):
        for pointer in (self.d_x, self.d_y):
            check_cuda(cudart.cudaFree(pointer))
        check_cuda(cudart.cudaStreamDestroy(self.stream))


def enqueue(lane, op, x_chunk, y_chunk):
    if op == "H2D":
        check_cuda(cudart.cudaMemcpyAsync(lane.d_x, x_chunk.ctypes.data, x_chunk.nbytes, H2D, lane.stream))
    elif op == "infer":
        if not lane.context.execute_async_v3(int(lane.stream)):
            raise RuntimeError("execute_async_v3 failed")
    else:
        check_cuda(cudart.cudaMemcpyAsync(y_chunk.ctypes.data, lane.d_y, y_chunk.nbytes, D2H, lane.stream))


def pipeline(lanes, x, y, trace=None):
    """Chunk i: copy in, infer, copy out, on lane i % len(lanes). trace: a list that gets (lane, op, chunk, event
    before, event after) for every operation."""
    for i in range(CHUNKS):
        k = i % len(lanes)
        for op in ("H2D", "infer", "D2H"):
            if trace is not None:
                before, after = check_cuda(cudart.cudaEventCreate()), check_cuda(cudart.cudaEventCreate())
                check_cuda(cudart.cudaEventRecord(before, lanes[k].stream))
            enqueue(lanes[k], op, x[i], y[i])
            if trace is not None:
                check_cuda(cudart.cudaEventRecord(after, lanes[k].stream))
                trace.append((k, op, i, before, after))


def timed_pipeline(lanes, x, y):
    """Whole pipeline between two events on lane 0's stream; the other streams wait for the start and are
    waited for at the end. Returns milliseconds."""
    start, end = check_cuda(cudart.cudaEventCreate()), check_cuda(cudart.cudaEventCreate())
    check_cuda(cudart.cudaEventRecord(start, lanes[0].stream))
    for lane in lanes[1:]:
        check_cuda(cudart.cudaStreamWaitEvent(lane.stream, start, 0))
    pipeline(lanes, x, y)
    for lane in lanes[1:]:
        done = check_cuda(cudart.cudaEventCreate())
        check_cuda(cudart.cudaEventRecord(done, lane.stream))
        check_cuda(cudart.cudaStreamWaitEvent(lanes[0].stream, done, 0))
        check_cuda(cudart.cudaEventDestroy(done))
    check_cuda(cudart.cudaEventRecord(end, lanes[0].stream))
    check_cuda(cudart.cudaEventSynchronize(end))
    elapsed = check_cuda(cudart.cudaEventElapsedTime(start, end))
    for event in (start, end):
        check_cuda(cudart.cudaEventDestroy(event))
    return elapsed


def traced_run(lanes, x, y):
    """One run with an event around every operation: [(lane, op, chunk, start ms, end ms)] from the first event."""
    check_cuda(cudart.cudaDeviceSynchronize())
    trace = []
    pipeline(lanes, x, y, trace)
    check_cuda(cudart.cudaDeviceSynchronize())
    origin = trace[0][3]
    rows = [(lane, op, chunk, check_cuda(cudart.cudaEventElapsedTime(origin, b)),
             check_cuda(cudart.cudaEventElapsedTime(origin, a))) for lane, op, chunk, b, a in trace]
    for *_, b, a in trace:
        check_cuda(cudart.cudaEventDestroy(b))
        check_cuda(cudart.cudaEventDestroy(a))
    return rows


def draw_timeline(traces, path="timeline.png"):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.patches
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: {path} not written")
        return
    colors = {"H2D": "tab:blue", "infer": "tab:green", "D2H": "tab:orange"}
    figure, axes = plt.subplots(len(traces), 1, figsize=(11, 1.6 + 1.2 * len(traces)), sharex=True)
    for axis, (title, rows) in zip(np.atleast_1d(axes), traces.items()):
        for lane, op, chunk, begin, finish in rows:
            axis.broken_barh([(begin, finish - begin)], (lane * 10 + 1, 8), color=colors[op], edgecolor="black")
            axis.text(begin + (finish - begin) / 2, lane * 10 + 5, str(chunk), ha="center", va="center", fontsize=7)
        lanes = sorted({row[0] for row in rows})
        axis.set_yticks([lane * 10 + 5 for lane in lanes], [f"stream {lane}" for lane in lanes])
        axis.set_title(title, fontsize=10)
    axis.set_xlabel("ms since the first event (bars: CUDA events around each operation, numbers: chunk)")
    figure.legend(handles=[matplotlib.patches.Patch(color=c, label=op) for op, c in colors.items()], loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"timeline written to {path}")


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    inputs = make_inputs()
    expected = reference(inputs)["outputT0_first_rows"]
    engine = build_engine(logger, inputs)
    lanes = [Lane(engine), Lane(engine)]
    x_pinned_pointer, x_pinned = pinned_empty(inputs["inputT0"].shape)
    x_pinned[...] = inputs["inputT0"]
    x_pageable = np.ascontiguousarray(inputs["inputT0"])
    ways = {"one stream, pinned": (lanes[:1], x_pinned), "two streams, pageable": (lanes, x_pageable),
            "two streams, pinned": (lanes, x_pinned)}
    outputs, pointers, timings, passed = {}, [x_pinned_pointer], {}, True
    for name, (way_lanes, x) in ways.items():
        if "pinned" in name:
            pointer, y = pinned_empty(x.shape)
            pointers.append(pointer)
        else:
            y = np.empty_like(x)
        for _ in range(WARMUP):
            timed_pipeline(way_lanes, x, y)
        times = [timed_pipeline(way_lanes, x, y) for _ in range(RUNS)]
        timings[name] = (float(np.median(times)), float(np.percentile(times, 90)))
        outputs[name] = y
        got = np.ascontiguousarray(y[:, :CHECKED_ROWS, :])
        same = bool(np.allclose(got, expected, **TOLERANCE))
        print(f"check result: {same}, {name}: first {CHECKED_ROWS} rows of every chunk, max abs error = "
              f"{float(np.max(np.abs(got - expected))):.3e}")
        passed = passed and same
        if name != "one stream, pinned":
            identical = bool(np.allclose(y, outputs["one stream, pinned"], **TOLERANCE))
            print(f"check result: {identical}, {name}: every output element matches one stream's (1e-5)")
            passed = passed and identical
        tag = name.replace(", ", "_").replace(" ", "_")
        np.savez(f"main.{tag}.output.npz", outputT0_first_rows=got)

    base = timings["one stream, pinned"][0]
    print(f"\n{CHUNKS} chunks of {ROWS}x{WIDTH} float32 in and out, {LAYERS} MatMuls each; {RUNS} runs")
    print("| way | median (ms) | p90 (ms) | speed-up vs one stream |")
    print("|---|---:|---:|---:|")
    for name, (median, p90) in timings.items():
        print(f"| {name} | {median:.3f} | {p90:.3f} | {base / median:.2f} |")
    with open("main.timings.json", "w") as f:
        json.dump({"runs": RUNS, "unit": "ms", "median_p90": timings}, f, indent=1)
    print("(timings saved to main.timings.json; they are reported, not checked)")

    traces = {"one stream, pinned": traced_run(lanes[:1], x_pinned, outputs["one stream, pinned"]),
              "two streams, pinned": traced_run(lanes, x_pinned, outputs["two streams, pinned"])}
    draw_timeline(traces)
    for lane in lanes:
        lane.free()
    for pointer in pointers:
        check_cuda(cudart.cudaFreeHost(pointer))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
