#!/usr/bin/env python3
"""08-Advance/SharedDeviceMemory: execution contexts without their own device memory, sharing one scratch buffer;
the GPU memory saved, measured.

engine.device_memory_size is the scratch memory (intermediate tensors, workspace) a context needs while it runs.
engine.create_execution_context() allocates that much for every context;
engine.create_execution_context_without_device_memory() allocates none, and the application assigns a buffer with
context.device_memory = address (write-only). Contexts that never run at the same time (here two engines run one after
the other on one stream, as in a pipeline of models) can share one buffer of the larger size: stream order
guarantees that engine B's kernels start only after engine A's have finished.
Engines (FP32, TF32 cleared; each has a 64 MiB intermediate tensor):
  A: x [2048,512]  -> MatMul [512,8192]  -> ReLU -> MatMul [8192,16]  -> y [2048,16]
  B: x [1024,256]  -> MatMul [256,16384] -> ReLU -> MatMul [16384,16] -> y [1024,16]
Measured with cudaMemGetInfo: the GPU memory taken by one context per engine with its own device memory, and by one
context per engine without device memory plus one shared buffer (printed as a markdown table and saved to
main.timings.json; reported, not checked: the driver allocates in pages). Checked: the first 8 rows of both outputs
(rows are independent) against float64 numpy, computed with the shared buffer.
02-API/ExecutionContext/DeviceMemory.py shows the members on one context.
"""
import json
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

ENGINES = {"A": (2048, 512, 8192, 16), "B": (1024, 256, 16384, 16)}   # rows, input width, hidden width, output width
CHECKED_ROWS = 8
# FP32 without TF32 against float64 numpy: sums over up to 16384 products of O(1) values.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-4}


def make_inputs():
    rng = np.random.default_rng(1806)
    inputs = {}
    for name, (rows, k, hidden, n) in ENGINES.items():
        inputs[f"x{name}"] = rng.standard_normal((rows, k)).astype(np.float32)
        inputs[f"W0{name}"] = (rng.standard_normal((k, hidden)) / np.sqrt(k)).astype(np.float32)
        inputs[f"W1{name}"] = (rng.standard_normal((hidden, n)) / np.sqrt(hidden)).astype(np.float32)
    return inputs


def reference(inputs):
    outputs = {}
    for name in ENGINES:
        x = inputs[f"x{name}"][:CHECKED_ROWS].astype(np.float64)
        h = np.maximum(x @ inputs[f"W0{name}"].astype(np.float64), 0)
        outputs[f"y{name}_first_rows"] = (h @ inputs[f"W1{name}"].astype(np.float64)).astype(np.float32)
    return outputs


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(logger, inputs, name):
    rows, k, hidden, n = ENGINES[name]
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    x = network.add_input("x", trt.float32, (rows, k))
    w0 = network.add_constant((k, hidden), trt.Weights(inputs[f"W0{name}"]))
    w1 = network.add_constant((hidden, n), trt.Weights(inputs[f"W1{name}"]))
    h = network.add_matrix_multiply(x, trt.MatrixOperation.NONE, w0.get_output(0), trt.MatrixOperation.NONE)
    relu = network.add_activation(h.get_output(0), trt.ActivationType.RELU)
    y = network.add_matrix_multiply(relu.get_output(0), trt.MatrixOperation.NONE, w1.get_output(0),
                                    trt.MatrixOperation.NONE)
    y.get_output(0).name = "y"
    network.mark_output(y.get_output(0))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine


def free_bytes():
    check_cuda(cudart.cudaDeviceSynchronize())
    return check_cuda(cudart.cudaMemGetInfo())[0]


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    inputs = make_inputs()
    expected = reference(inputs)
    engines = {name: build_engine(logger, inputs, name) for name in ENGINES}
    sizes = {name: engine.device_memory_size for name, engine in engines.items()}
    print(f"engine.device_memory_size: {sizes}")

    before = free_bytes()
    contexts = {name: engine.create_execution_context() for name, engine in engines.items()}
    own = before - free_bytes()
    print(f"two contexts with their own device memory: {own} bytes of GPU memory")
    del contexts  # their device memory is released with them

    before = free_bytes()
    contexts = {name: engine.create_execution_context_without_device_memory() for name, engine in engines.items()}
    scratch = check_cuda(cudart.cudaMalloc(max(sizes.values())))  # one buffer, as large as the larger need
    for context in contexts.values():
        context.device_memory = scratch  # must stay allocated while any of them runs
    shared = before - free_bytes()
    print(f"two contexts without device memory + one shared buffer of {max(sizes.values())} bytes: {shared} bytes")

    stream = check_cuda(cudart.cudaStreamCreate())  # one stream: B starts only after A has finished with the buffer
    buffers, outputs = [], {}
    for name, context in contexts.items():
        x = inputs[f"x{name}"]
        y = np.empty(tuple(context.get_tensor_shape("y")), dtype=np.float32)
        d_x, d_y = check_cuda(cudart.cudaMalloc(x.nbytes)), check_cuda(cudart.cudaMalloc(y.nbytes))
        buffers += [d_x, d_y]
        context.set_tensor_address("x", d_x)
        context.set_tensor_address("y", d_y)
        check_cuda(cudart.cudaMemcpyAsync(d_x, x.ctypes.data, x.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
        if not context.execute_async_v3(int(stream)):
            raise RuntimeError("execute_async_v3 failed")
        check_cuda(cudart.cudaMemcpyAsync(y.ctypes.data, d_y, y.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
        outputs[f"y{name}_first_rows"] = y
    check_cuda(cudart.cudaStreamSynchronize(stream))
    outputs = {key: np.ascontiguousarray(y[:CHECKED_ROWS]) for key, y in outputs.items()}
    passed = True
    for key, want in expected.items():
        same = bool(np.allclose(outputs[key], want, **TOLERANCE))
        print(f"check result: {same}, {key}: max abs error = {float(np.max(np.abs(outputs[key] - want))):.3e}")
        passed = passed and same
    np.savez("main.output.npz", **outputs)

    print("\n| contexts | device_memory_size A + B (bytes) | GPU memory taken, cudaMemGetInfo (bytes) |")
    print("|---|---:|---:|")
    print(f"| with their own device memory | {sum(sizes.values())} | {own} |")
    print(f"| without device memory + one shared buffer | {max(sizes.values())} | {shared} |")
    with open("main.timings.json", "w") as f:
        json.dump({"device_memory_size": sizes, "own_bytes": own, "shared_bytes": shared}, f, indent=1)
    print("(measurements saved to main.timings.json; they are reported, not checked)")
    del contexts  # release the contexts before the memory they use
    for pointer in buffers + [scratch]:
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
