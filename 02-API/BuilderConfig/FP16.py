#!/usr/bin/env python3
"""02-API/BuilderConfig/FP16.py: BuilderFlag.FP16 lets TensorRT run layers in half precision.

The same two-convolution network (Conv-ReLU-Conv-MaxPool) is built in FP32 (TF32 cleared) and with FP16 allowed. Shown: the error of each
against float64 numpy, the engine's I/O types (they stay FP32: FP16 only changes the layers inside), and the
per-layer formats / precisions reported by the engine inspector (profiling_verbosity = DETAILED).
FP16 is a permission, not an order: with 8.6.0 the builder kept FP32 kernels for this small network on an H100
and chose FP16 convolutions on an H200 (see the README); OBEY_PRECISION_CONSTRAINTS with layer.precision forces it
(PrecisionConstraints.py).
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
N, C, H, W, C1, C2 = 4, 32, 32, 32, 64, 64
POOL = 8  # the output is max-pooled 8x8 to keep it (and the stored reference) small
TOLERANCE = {"rtol": 1e-2, "atol": 1e-2}  # FP16 arithmetic (10-bit mantissa)


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
    y = conv2d(np.maximum(conv2d(x, p["conv1.weight"], p["conv1.bias"]), 0), p["conv2.weight"], p["conv2.bias"])
    y = y.reshape(N, C2, H // POOL, POOL, W // POOL, POOL).max(axis=(3, 5))
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
    x = network.add_input(INPUT_NAME, trt.float32, (N, C, H, W))
    conv1 = network.add_convolution_nd(x, C1, (3, 3), trt.Weights(weights["conv1.weight"]),
                                       trt.Weights(weights["conv1.bias"]))
    conv1.padding_nd = (1, 1)
    conv1.name = "Conv1"
    relu = network.add_activation(conv1.get_output(0), trt.ActivationType.RELU)
    relu.name = "ReLU"
    conv2 = network.add_convolution_nd(relu.get_output(0), C2, (3, 3), trt.Weights(weights["conv2.weight"]),
                                       trt.Weights(weights["conv2.bias"]))
    conv2.padding_nd = (1, 1)
    conv2.name = "Conv2"
    pool = network.add_pooling_nd(conv2.get_output(0), trt.PoolingType.MAX, (POOL, POOL))
    pool.stride_nd = (POOL, POOL)
    pool.name = "MaxPool"
    pool.get_output(0).name = OUTPUT_NAME
    network.mark_output(pool.get_output(0))
    return network


def build_engine(builder, network, runtime, fp16):
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # so that the inspector shows formats
    if fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed")
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    label = "FP16 allowed" if fp16 else "FP32 (TF32 cleared)"
    print(f"=== {label}: plan of {serialized.nbytes} bytes, {engine.num_layers} engine layers")
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        print(f"  I/O {name}: dtype {engine.get_tensor_dtype(name)}, format {engine.get_tensor_format_desc(name)}")
    inspector = engine.create_engine_inspector()
    for i in range(engine.num_layers):
        print(f"  layer {i}: {inspector.get_layer_information(i, trt.LayerInformationFormat.ONELINE).strip()[:220]}")
    return engine


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
    print(f"builder.platform_has_fast_fp16 = {builder.platform_has_fast_fp16}")
    weights = make_weights()
    network = build_network(builder, weights)
    inputs = make_inputs()
    expected = reference(inputs)[OUTPUT_NAME]

    fp32 = run_engine(build_engine(builder, network, runtime, fp16=False), inputs)[OUTPUT_NAME]
    print(f"  FP32 max abs error = {np.max(np.abs(fp32 - expected)):.3e}")
    outputs = run_engine(build_engine(builder, network, runtime, fp16=True), inputs)
    err = float(np.max(np.abs(outputs[OUTPUT_NAME] - expected)))
    ok = bool(np.allclose(outputs[OUTPUT_NAME], expected, **TOLERANCE))
    print(f"check result: {ok}, FP16 engine: max abs error = {err:.3e} (tolerance {TOLERANCE})")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
