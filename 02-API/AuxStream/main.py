#!/usr/bin/env python3
"""02-API/AuxStream: auxiliary CUDA streams for parallel branches, and the input-consumed event.

Build time:  config.max_aux_streams = n   at most n streams besides the one given to execute_async_v3
                                           (0: single stream; by default TensorRT decides)
Engine:      engine.num_aux_streams        how many auxiliary streams the built engine actually uses
Run time:    context.set_aux_streams([stream, ...])   your own streams for them (else TensorRT creates its own)
             context.set_input_consumed_event(event)  a cudaEvent TensorRT records once it has read every
                                                      input: from then on the input buffers may be reused
             context.get_input_consumed_event()       the event set (0 when none)
The network has four independent branches (MatMul -> ReLU -> MatMul) summed at the end, so TensorRT can run
them on different streams. It is built with max_aux_streams = 0 and = 3. Each run waits for the
input-consumed event, then overwrites the input buffer with zeros while the engine may still be computing:
the output still matches numpy's result for the original input, which shows that the event fired only
after TensorRT had finished reading the input.
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
SIZE = 64
N_BRANCHES = 4
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 (TF32 cleared)


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal((SIZE, SIZE)).astype(np.float32)}


def make_weights():
    rng = np.random.default_rng(97)
    return [((rng.standard_normal((SIZE, SIZE)) / np.sqrt(SIZE)).astype(np.float32),
             (rng.standard_normal((SIZE, SIZE)) / np.sqrt(SIZE)).astype(np.float32)) for _ in range(N_BRANCHES)]


def reference(inputs):
    """sum over the branches of ReLU(x @ A_i) @ B_i."""
    x = inputs[INPUT_NAME].astype(np.float64)
    y = sum(np.maximum(x @ a.astype(np.float64), 0) @ b.astype(np.float64) for a, b in make_weights())
    return {OUTPUT_NAME: y.astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build(logger, runtime, max_aux_streams):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    print(f"config.max_aux_streams default = {config.max_aux_streams}")
    config.max_aux_streams = max_aux_streams
    print(f"config.max_aux_streams set to {config.max_aux_streams}")

    x = network.add_input(INPUT_NAME, trt.float32, (SIZE, SIZE))
    total = None
    for i, (a, b) in enumerate(make_weights()):
        branch = x
        for j, w in enumerate((a, b)):
            weight = network.add_constant(w.shape, w)
            weight.name = f"Weight{i}{'AB'[j]}"
            mm = network.add_matrix_multiply(branch, trt.MatrixOperation.NONE, weight.get_output(0),
                                             trt.MatrixOperation.NONE)
            mm.name = f"Branch{i}MatMul{'AB'[j]}"
            branch = mm.get_output(0)
            if j == 0:
                relu = network.add_activation(branch, trt.ActivationType.RELU)
                relu.name = f"Branch{i}ReLU"
                branch = relu.get_output(0)
        if total is None:
            total = branch
        else:
            add = network.add_elementwise(total, branch, trt.ElementWiseOperation.SUM)
            add.name = f"Sum{i}"
            total = add.get_output(0)
    total.name = OUTPUT_NAME
    network.mark_output(total)

    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("building the engine failed")
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


def run(engine, x):
    context = engine.create_execution_context()
    aux_streams = [check_cuda(cudart.cudaStreamCreate()) for _ in range(engine.num_aux_streams)]
    context.set_aux_streams([int(s) for s in aux_streams])  # optional: TensorRT creates them if not given
    print(f"context.set_aux_streams with {len(aux_streams)} stream(s)")

    consumed = check_cuda(cudart.cudaEventCreate())
    print(f"context.get_input_consumed_event() before = {context.get_input_consumed_event()}")
    context.set_input_consumed_event(int(consumed))
    print(f"context.get_input_consumed_event() after = {context.get_input_consumed_event()} "
          f"(the event we created: {int(consumed)})")

    out = np.empty(tuple(context.get_tensor_shape(OUTPUT_NAME)), dtype=np.float32)
    d_in = check_cuda(cudart.cudaMalloc(x.nbytes))
    d_out = check_cuda(cudart.cudaMalloc(out.nbytes))
    context.set_tensor_address(INPUT_NAME, d_in)
    context.set_tensor_address(OUTPUT_NAME, d_out)
    stream = check_cuda(cudart.cudaStreamCreate())
    other_stream = check_cuda(cudart.cudaStreamCreate())
    start = check_cuda(cudart.cudaEventCreate())
    end = check_cuda(cudart.cudaEventCreate())

    check_cuda(cudart.cudaMemcpy(d_in, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
    check_cuda(cudart.cudaEventRecord(start, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaEventRecord(end, stream))
    print(f"right after execute_async_v3: input-consumed event {cudart.cudaEventQuery(consumed)[0].name}, "
          f"stream {cudart.cudaStreamQuery(stream)[0].name}")
    check_cuda(cudart.cudaEventSynchronize(consumed))  # wait until TensorRT has read the input ...
    stream_state = cudart.cudaStreamQuery(stream)[0].name
    # ... then reuse the input buffer at once, on another stream, while the inference may still be running
    check_cuda(cudart.cudaMemsetAsync(d_in, 0, x.nbytes, other_stream))
    check_cuda(cudart.cudaStreamSynchronize(other_stream))
    print(f"input-consumed event fired (inference stream then: {stream_state}); input buffer overwritten with 0")
    check_cuda(cudart.cudaStreamSynchronize(stream))
    check_cuda(cudart.cudaMemcpy(out.ctypes.data, d_out, out.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost))
    try:  # timings are printed only
        t_consumed = check_cuda(cudart.cudaEventElapsedTime(start, consumed))
        t_end = check_cuda(cudart.cudaEventElapsedTime(start, end))
        print(f"input consumed after {t_consumed:.3f} ms, inference finished after {t_end:.3f} ms")
    except (AttributeError, RuntimeError) as error:
        print(f"(no event timing: {error})")

    for s in aux_streams + [stream, other_stream]:
        check_cuda(cudart.cudaStreamDestroy(s))
    for e in (consumed, start, end):
        check_cuda(cudart.cudaEventDestroy(e))
    check_cuda(cudart.cudaFree(d_in))
    check_cuda(cudart.cudaFree(d_out))
    return out


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    runtime = trt.Runtime(logger)
    inputs = make_inputs()
    expected = reference(inputs)[OUTPUT_NAME]
    passed = True
    for max_aux_streams in (0, 3):
        print(f"\n=== max_aux_streams = {max_aux_streams}")
        engine = build(logger, runtime, max_aux_streams)
        print(f"engine.num_aux_streams = {engine.num_aux_streams}")
        out = run(engine, inputs[INPUT_NAME])
        max_error = float(np.max(np.abs(out - expected)))
        ok = bool(np.allclose(out, expected, **TOLERANCE))
        print(f"check result: {ok}, max abs error = {max_error:.3e} (input overwritten after the event)")
        passed = passed and ok
        np.savez(f"{os.path.splitext(os.path.basename(__file__))[0]}.aux{max_aux_streams}.output.npz",
                 **{OUTPUT_NAME: out})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
