#!/usr/bin/env python3
"""02-API/BuilderConfig/INT8.py: BuilderFlag.INT8 without a calibrator, using ITensor.set_dynamic_range.

With INT8 allowed, TensorRT needs a scale for every tensor that an INT8 kernel reads or writes. A calibrator
computes them from sample data (02-API/INT8-PTQ); here they are set by hand: each tensor's range is [-a, a] with
a = the largest magnitude that tensor takes (known from numpy), and TensorRT uses scale = a / 127.
Network: Conv 3x3 (64 -> 64 channels, big enough that INT8 kernels are faster) + bias -> ReLU -> MaxPool 8x8. Shown: the INT8 engine's error, the FP32 engine's error, and
the per-layer formats reported by the engine inspector.
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
N, C, H, W, K = 4, 64, 32, 32, 64
POOL = 8  # the output is max-pooled 8x8 to keep it (and the stored reference) small
# INT8: input, weights and output are rounded to 1/127 of their ranges; numpy simulation of that rounding gives a
# max error of about 0.025 on outputs up to 2.6
TOLERANCE = {"rtol": 0.05, "atol": 0.05}


def make_weights():
    rng = np.random.default_rng(97)
    return {
        "conv.weight": (rng.standard_normal((K, C, 3, 3)) / np.sqrt(C * 9)).astype(np.float32),
        "conv.bias": (rng.standard_normal(K) * 0.1).astype(np.float32),
    }


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.uniform(-1, 1, (N, C, H, W)).astype(np.float32)}


def conv2d(x, w, b):
    """Convolution with stride 1 and 'same' zero padding (odd kernel), NCHW / OIHW, in float64."""
    r = w.shape[2] // 2
    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True) + b.reshape(1, -1, 1, 1)


def conv_output(inputs):
    p = {k: v.astype(np.float64) for k, v in make_weights().items()}
    return conv2d(inputs[INPUT_NAME].astype(np.float64), p["conv.weight"], p["conv.bias"])


def reference(inputs):
    y = np.maximum(conv_output(inputs), 0)
    y = y.reshape(N, K, H // POOL, POOL, W // POOL, POOL).max(axis=(3, 5))
    return {OUTPUT_NAME: y.astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(builder, runtime, weights, inputs, int8):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    x = network.add_input(INPUT_NAME, trt.float32, (N, C, H, W))
    conv = network.add_convolution_nd(x, K, (3, 3), trt.Weights(weights["conv.weight"]),
                                      trt.Weights(weights["conv.bias"]))
    conv.padding_nd = (1, 1)
    conv.name = "Conv"
    relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    relu.name = "ReLU"
    pool = network.add_pooling_nd(relu.get_output(0), trt.PoolingType.MAX, (POOL, POOL))
    pool.stride_nd = (POOL, POOL)
    pool.name = "MaxPool"
    pool.get_output(0).name = OUTPUT_NAME
    network.mark_output(pool.get_output(0))

    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if int8:
        config.set_flag(trt.BuilderFlag.INT8)  # config.int8_calibrator stays None: the ranges below are used
        a_in = float(np.max(np.abs(inputs[INPUT_NAME])))
        a_conv = float(np.max(np.abs(conv_output(inputs))))
        # at this size TensorRT may find the FP32 kernel faster (the INT8 one needs a quantize reformat first):
        # ask for INT8 with a precision constraint; PREFER falls back to FP32 with a warning where it cannot
        conv.precision = trt.int8
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        for tensor, a in ((x, a_in), (conv.get_output(0), a_conv), (relu.get_output(0), a_conv),
                          (pool.get_output(0), a_conv)):
            tensor.set_dynamic_range(-a, a)
            print(f"  {tensor.name}.set_dynamic_range({-a:.4f}, {a:.4f}) -> tensor.dynamic_range = "
                  f"{tensor.dynamic_range}")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed")
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    print(f"=== {'INT8 allowed' if int8 else 'FP32 (TF32 cleared)'}: plan of {serialized.nbytes} bytes, "
          f"{engine.num_layers} engine layers")
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
    print(f"builder.platform_has_fast_int8 = {builder.platform_has_fast_int8}")
    weights = make_weights()
    inputs = make_inputs()
    expected = reference(inputs)[OUTPUT_NAME]

    fp32 = run_engine(build_engine(builder, runtime, weights, inputs, int8=False), inputs)[OUTPUT_NAME]
    print(f"  FP32 max abs error = {np.max(np.abs(fp32 - expected)):.3e}")
    outputs = run_engine(build_engine(builder, runtime, weights, inputs, int8=True), inputs)
    err = float(np.max(np.abs(outputs[OUTPUT_NAME] - expected)))
    ok = bool(np.allclose(outputs[OUTPUT_NAME], expected, **TOLERANCE))
    print(f"check result: {ok}, INT8 engine: max abs error = {err:.3e} (tolerance {TOLERANCE}, "
          f"outputs up to {expected.max():.2f})")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
