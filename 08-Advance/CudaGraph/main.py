#!/usr/bin/env python3
"""08-Advance/CudaGraph: capture execute_async_v3 into a CUDA graph, replay it, measure what it saves on a
launch-bound network, and capture again after the input shape changes.

Network: x [-1,64] -> 64 x (MatMul with a [64,64] constant -> ReLU) -> y [-1,64], FP32 with TF32 cleared, batch
dynamic (1..64). Tiny matrices: every layer is a short kernel, so an inference costs mostly kernel launches on the
CPU side, which is what a CUDA graph replaces with one cudaGraphLaunch.
Steps (cuda-python runtime API):
1. set_input_shape(batch 4), execute_async_v3 once outside any capture (TensorRT may allocate or update state in the
   first enqueue after a shape change, which a capture cannot hold: NvInferRuntime.h asks for one enqueue before
   capturing), then cudaStreamBeginCapture -> execute_async_v3 -> cudaStreamEndCapture -> cudaGraphInstantiate.
2. Replay with cudaGraphLaunch; the graph keeps the tensor addresses and shapes of the capture: new input data in
   the same buffer is fine, a new shape or a new buffer needs a new capture.
3. Shape change to batch 32: set_input_shape, one plain execute_async_v3, capture again, replay.
Checked: the outputs of plain execution and of the graph for both batches against float64 numpy. Timed for both
batches: plain execute_async_v3 vs cudaGraphLaunch, median and p90 of RUNS runs (CUDA events around the call, and the
host time of the call itself), printed as a markdown table and saved to main.timings.json (reported, not checked).
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

LAYERS, WIDTH, BATCHES, MAX_BATCH = 64, 64, (4, 32), 64
RUNS, WARMUP = 200, 20
# FP32 without TF32 against float64 numpy; the rounding errors of 64 layers add up.
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def make_inputs():
    rng = np.random.default_rng(1024)
    inputs = {f"inputT0_b{b}": rng.standard_normal((b, WIDTH)).astype(np.float32) for b in BATCHES}
    inputs["W"] = (rng.standard_normal((LAYERS, WIDTH, WIDTH)) * np.sqrt(2 / WIDTH)).astype(np.float32)
    return inputs


def reference(inputs):
    outputs = {}
    for b in BATCHES:
        y = inputs[f"inputT0_b{b}"].astype(np.float64)
        for w in inputs["W"].astype(np.float64):
            y = np.maximum(y @ w, 0)
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


def build_engine(logger, weights):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    y = network.add_input("inputT0", trt.float32, (-1, WIDTH))
    for i in range(LAYERS):
        w = network.add_constant((WIDTH, WIDTH), trt.Weights(weights[i]))
        y = network.add_matrix_multiply(y, trt.MatrixOperation.NONE, w.get_output(0),
                                        trt.MatrixOperation.NONE).get_output(0)
        y = network.add_activation(y, trt.ActivationType.RELU).get_output(0)
    y.name = "outputT0"
    network.mark_output(y)
    profile = builder.create_optimization_profile()
    profile.set_shape("inputT0", (1, WIDTH), (16, WIDTH), (MAX_BATCH, WIDTH))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine


def capture(context, stream):
    """Record one execute_async_v3 on `stream` into a CUDA graph; returns (graph, executable graph)."""
    check_cuda(cudart.cudaStreamBeginCapture(stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal))
    enqueued = context.execute_async_v3(int(stream))  # recorded, not run
    graph = check_cuda(cudart.cudaStreamEndCapture(stream))  # end the capture in any case, then check
    if not enqueued:
        raise RuntimeError("execute_async_v3 failed during stream capture")
    graph_exec = check_cuda(cudart.cudaGraphInstantiate(graph, 0))
    return graph, graph_exec


def time_calls(call, stream):
    """median and p90 of RUNS calls: GPU time between CUDA events around the call, and host time of the call."""
    start, end = check_cuda(cudart.cudaEventCreate()), check_cuda(cudart.cudaEventCreate())
    for _ in range(WARMUP):
        call()
    check_cuda(cudart.cudaStreamSynchronize(stream))
    gpu, host = [], []
    for _ in range(RUNS):
        check_cuda(cudart.cudaEventRecord(start, stream))
        t0 = time.perf_counter()
        call()
        host.append((time.perf_counter() - t0) * 1000)
        check_cuda(cudart.cudaEventRecord(end, stream))
        check_cuda(cudart.cudaEventSynchronize(end))
        gpu.append(check_cuda(cudart.cudaEventElapsedTime(start, end)))
    for event in (start, end):
        check_cuda(cudart.cudaEventDestroy(event))
    return [float(np.median(gpu)), float(np.percentile(gpu, 90)),
            float(np.median(host)), float(np.percentile(host, 90))]


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    inputs = make_inputs()
    expected = reference(inputs)
    engine = build_engine(logger, inputs["W"])
    context = engine.create_execution_context()
    # a non-blocking stream: no implicit synchronization with the legacy default stream (work issued there during the
    # capture would otherwise invalidate it)
    stream = check_cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking))
    d_x = check_cuda(cudart.cudaMalloc(MAX_BATCH * WIDTH * 4))
    d_y = check_cuda(cudart.cudaMalloc(MAX_BATCH * WIDTH * 4))
    context.set_tensor_address("inputT0", d_x)
    context.set_tensor_address("outputT0", d_y)

    def execute():
        if not context.execute_async_v3(int(stream)):
            raise RuntimeError("execute_async_v3 failed")

    def fetch(batch):
        y = np.empty((batch, WIDTH), dtype=np.float32)
        check_cuda(cudart.cudaMemcpyAsync(y.ctypes.data, d_y, y.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
        check_cuda(cudart.cudaStreamSynchronize(stream))
        return y

    results, timings, passed = {"execute": {}, "graph": {}}, {}, True
    for batch in BATCHES:
        print(f"=== batch {batch}")
        x = inputs[f"inputT0_b{batch}"]
        context.set_input_shape("inputT0", x.shape)
        check_cuda(cudart.cudaMemcpyAsync(d_x, x.ctypes.data, x.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
        check_cuda(cudart.cudaMemsetAsync(d_y, 0, MAX_BATCH * WIDTH * 4, stream))
        execute()  # the first enqueue after a shape change runs outside the capture
        results["execute"][f"outputT0_b{batch}"] = fetch(batch)
        graph, graph_exec = capture(context, stream)
        print(f"captured execute_async_v3 for input shape {tuple(context.get_tensor_shape('inputT0'))}")
        check_cuda(cudart.cudaMemsetAsync(d_y, 0, MAX_BATCH * WIDTH * 4, stream))  # the graph must write it again
        check_cuda(cudart.cudaGraphLaunch(graph_exec, stream))
        results["graph"][f"outputT0_b{batch}"] = fetch(batch)
        for way in ("execute", "graph"):
            got, want = results[way][f"outputT0_b{batch}"], expected[f"outputT0_b{batch}"]
            same = bool(np.allclose(got, want, **TOLERANCE))
            print(f"check result: {same}, {way} batch {batch}: max abs error = {float(np.max(np.abs(got - want))):.3e}")
            passed = passed and same
        timings[batch] = {"execute_async_v3": time_calls(execute, stream),
                          "cudaGraphLaunch": time_calls(lambda: check_cuda(cudart.cudaGraphLaunch(graph_exec, stream)),
                                                        stream)}
        check_cuda(cudart.cudaGraphExecDestroy(graph_exec))
        check_cuda(cudart.cudaGraphDestroy(graph))
    for way, outputs in results.items():
        np.savez(f"main.{way}.output.npz", **outputs)

    print(f"\n{engine.num_layers} engine layers; {RUNS} runs; GPU = CUDA events around the call, host = the call's "
          "own duration on the CPU")
    print("| batch | way | GPU median (ms) | GPU p90 (ms) | host median (ms) | host p90 (ms) |")
    print("|---:|---|---:|---:|---:|---:|")
    for batch, ways in timings.items():
        for way, (gm, gp, hm, hp) in ways.items():
            print(f"| {batch} | {way} | {gm:.4f} | {gp:.4f} | {hm:.4f} | {hp:.4f} |")
    with open("main.timings.json", "w") as f:
        json.dump({"runs": RUNS, "unit": "ms", "columns": ["gpu_median", "gpu_p90", "host_median", "host_p90"],
                   "batches": {str(b): t for b, t in timings.items()}}, f, indent=1)
    print("(timings saved to main.timings.json; they are reported, not checked)")
    for pointer in (d_x, d_y):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
