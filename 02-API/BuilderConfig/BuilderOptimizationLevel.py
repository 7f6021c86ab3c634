#!/usr/bin/env python3
"""02-API/BuilderConfig/BuilderOptimizationLevel.py: config.builder_optimization_level (0..5, default 3).

Higher levels let the builder try more tactics and fusions (longer builds, possibly faster engines); lower levels
build faster. The same small conv net is built at every level: build time, plan size and engine layer count are
printed, and every engine's output is checked against numpy (each level is saved as its own output set).
"""
import os
import sys
import time

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

INPUT_NAME = "inputT0"
OUTPUT_NAME = "outputT0"
N, C, H, W, C1, C2 = 4, 16, 16, 16, 32, 32
# FP32 with TF32 cleared; a little wider than 1e-5 because different levels may pick different convolution
# algorithms (e.g. Winograd), whose FP32 rounding differs from a direct convolution
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def make_weights():
    rng = np.random.default_rng(97)
    return {
        "conv1.weight": (rng.standard_normal((C1, C, 3, 3)) / np.sqrt(C * 9)).astype(np.float32),
        "conv1.bias": (rng.standard_normal(C1) * 0.1).astype(np.float32),
        "conv2.weight": (rng.standard_normal((C2, C1, 3, 3)) / np.sqrt(C1 * 9)).astype(np.float32),
        "conv2.bias": (rng.standard_normal(C2) * 0.1).astype(np.float32),
    }


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal((N, C, H, W)).astype(np.float32)}


def conv2d(x, w, b):
    """Convolution with stride 1 and 'same' zero padding (odd kernel), NCHW / OIHW, in float64."""
    r = w.shape[2] // 2
    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True) + b.reshape(1, -1, 1, 1)


def reference(inputs):
    p = {k: v.astype(np.float64) for k, v in make_weights().items()}
    x = inputs[INPUT_NAME].astype(np.float64)
    y = np.maximum(conv2d(x, p["conv1.weight"], p["conv1.bias"]), 0)
    y = np.maximum(conv2d(y, p["conv2.weight"], p["conv2.bias"]), 0)
    y = y.reshape(N, C2, H // 2, 2, W // 2, 2).max(axis=(3, 5))  # MaxPool 2x2
    return {OUTPUT_NAME: y.astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_network(builder, weights):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    tensor = network.add_input(INPUT_NAME, trt.float32, (N, C, H, W))
    for k, channels in ((1, C1), (2, C2)):
        conv = network.add_convolution_nd(tensor, channels, (3, 3), trt.Weights(weights[f"conv{k}.weight"]),
                                          trt.Weights(weights[f"conv{k}.bias"]))
        conv.padding_nd = (1, 1)
        conv.name = f"Conv{k}"
        relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
        relu.name = f"ReLU{k}"
        tensor = relu.get_output(0)
    pool = network.add_pooling_nd(tensor, trt.PoolingType.MAX, (2, 2))
    pool.stride_nd = (2, 2)
    pool.name = "MaxPool"
    pool.get_output(0).name = OUTPUT_NAME
    network.mark_output(pool.get_output(0))
    return network


def run_engine(engine, inputs):
    """Run an engine once: inputs {name: array} -> outputs {name: array}."""
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            context.set_input_shape(name, inputs[name].shape)
    host, device = {}, {}
    for name in names:
        dtype = trt.nptype(engine.get_tensor_dtype(name))
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            host[name] = np.ascontiguousarray(inputs[name], dtype=dtype)
        else:
            host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=dtype)
        device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
        context.set_tensor_address(name, device[name])
    stream = check_cuda(cudart.cudaStreamCreate())
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    outputs = {}
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
            outputs[name] = host[name]
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for name in names:
        check_cuda(cudart.cudaFree(device[name]))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return outputs


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    runtime = trt.Runtime(logger)
    weights = make_weights()
    network = build_network(builder, weights)
    inputs = make_inputs()
    expected = reference(inputs)[OUTPUT_NAME]
    stem = os.path.splitext(os.path.basename(__file__))[0]
    print(f"default builder_optimization_level = {builder.create_builder_config().builder_optimization_level}")

    passed = True
    for level in range(6):
        config = builder.create_builder_config()
        config.clear_flag(trt.BuilderFlag.TF32)
        config.builder_optimization_level = level
        start = time.perf_counter()
        serialized = builder.build_serialized_network(network, config)
        seconds = time.perf_counter() - start
        if serialized is None:
            raise RuntimeError(f"level {level}: build_serialized_network failed")
        engine = runtime.deserialize_cuda_engine(serialized)
        if engine is None:
            raise RuntimeError(f"level {level}: deserialize_cuda_engine failed")
        outputs = run_engine(engine, inputs)
        err = float(np.max(np.abs(outputs[OUTPUT_NAME] - expected)))
        ok = bool(np.allclose(outputs[OUTPUT_NAME], expected, **TOLERANCE))
        print(f"level {level}: build {seconds:6.2f} s, plan {serialized.nbytes:7d} bytes, "
              f"{engine.num_layers} engine layers")
        print(f"check result: {ok}, level {level}: max abs error = {err:.3e}")
        passed &= ok
        np.savez(f"{stem}.level{level}.output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
