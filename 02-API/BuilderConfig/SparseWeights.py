#!/usr/bin/env python3
"""02-API/BuilderConfig/SparseWeights.py: BuilderFlag.SPARSE_WEIGHTS lets TensorRT use 2:4 structured-sparse
kernels (Ampere and newer, FP16 / INT8) for layers whose weights have the right zero pattern.

Network: Conv 3x3 (256 -> 256 channels, 64x64, batch 4) -> MaxPool 16x16. The convolution weights below are made 2:4 sparse: in every group of 4 consecutive input channels (for each output
channel and kernel position) two weights are zero. The builder's INFO messages tagged "(Sparsity)" say which layers
were eligible and which ones got a sparse kernel; they are printed for a build with and without the flag.
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
N, C, H, W, K = 4, 256, 64, 64, 256
POOL = 16  # the output is max-pooled 16x16 to keep it (and the stored reference) small
TOLERANCE = {"rtol": 1e-2, "atol": 1e-2}  # FP16 arithmetic


def make_weights():
    rng = np.random.default_rng(97)
    w = rng.standard_normal((K, C, 3, 3)) / np.sqrt(C * 9 / 2)
    # 2:4 pattern along the input channels: keep 2 random positions out of each group of 4
    mask = np.zeros((K, C // 4, 4, 3, 3))
    for o in range(K):
        for g in range(C // 4):
            for i in range(3):
                for j in range(3):
                    mask[o, g, rng.choice(4, 2, replace=False), i, j] = 1
    w = w * mask.reshape(K, C, 3, 3)
    return {"conv.weight": w.astype(np.float32), "conv.bias": (rng.standard_normal(K) * 0.1).astype(np.float32)}


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
    y = conv2d(inputs[INPUT_NAME].astype(np.float64), p["conv.weight"], p["conv.bias"])
    y = y.reshape(N, K, H // POOL, POOL, W // POOL, POOL).max(axis=(3, 5))
    return {OUTPUT_NAME: y.astype(np.float32)}


class CollectingLogger(trt.ILogger):
    """Keeps messages at or above min_severity (see 02-API/Logger)."""

    def __init__(self, min_severity=None):
        trt.ILogger.__init__(self)
        self.min_severity = trt.ILogger.Severity.INFO if min_severity is None else min_severity
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(self.min_severity):
            self.messages.append((severity, msg))

    def take(self):
        messages, self.messages = self.messages, []
        return messages


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(builder, runtime, logger, weights, sparse):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    x = network.add_input(INPUT_NAME, trt.float32, (N, C, H, W))
    conv = network.add_convolution_nd(x, K, (3, 3), trt.Weights(weights["conv.weight"]),
                                      trt.Weights(weights["conv.bias"]))
    conv.padding_nd = (1, 1)
    conv.name = "SparseConv"
    pool = network.add_pooling_nd(conv.get_output(0), trt.PoolingType.MAX, (POOL, POOL))
    pool.stride_nd = (POOL, POOL)
    pool.name = "MaxPool"
    pool.get_output(0).name = OUTPUT_NAME
    network.mark_output(pool.get_output(0))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    if sparse:
        config.set_flag(trt.BuilderFlag.SPARSE_WEIGHTS)
    logger.take()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed")
    sparsity = [text for _, text in logger.take() if "parsity" in text or "sparse" in text]
    print(f"=== SPARSE_WEIGHTS {'set' if sparse else 'not set'}: plan of {serialized.nbytes} bytes; "
          f"{len(sparsity)} sparsity messages")
    for text in sparsity:
        print(f"  [INFO] {text[:250]}")
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
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
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    runtime = trt.Runtime(logger)
    weights = make_weights()
    w = weights["conv.weight"].reshape(K, C // 4, 4, 3, 3)
    print(f"zero weights: {np.mean(weights['conv.weight'] == 0):.0%}; every group of 4 input channels has "
          f"{int(np.max(np.sum(w != 0, axis=2)))} non-zero weights at most")
    inputs = make_inputs()
    expected = reference(inputs)[OUTPUT_NAME]

    dense = run_engine(build_engine(builder, runtime, logger, weights, sparse=False), inputs)[OUTPUT_NAME]
    print(f"  max abs error = {np.max(np.abs(dense - expected)):.3e}")
    outputs = run_engine(build_engine(builder, runtime, logger, weights, sparse=True), inputs)
    err = float(np.max(np.abs(outputs[OUTPUT_NAME] - expected)))
    ok = bool(np.allclose(outputs[OUTPUT_NAME], expected, **TOLERANCE))
    print(f"check result: {ok}, SPARSE_WEIGHTS engine (FP16): max abs error = {err:.3e}")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
