#!/usr/bin/env python3
"""02-API/BuilderConfig/Flags.py: every trt.BuilderFlag of TensorRT 8.6, its default, and its effect where a small
build shows one.

Network: y = x @ W, x [64, 256], W [256, 64] (W ~ N(0, 1/256), so y ~ N(0, 1)).
- TF32 (on by default): the error of the matrix multiply against float64 numpy, with and without TF32
- REFIT: engine.refittable
- DISABLE_TIMING_CACHE, DEBUG: build / run with them
- VERSION_COMPATIBLE (+ EXCLUDE_LEAN_RUNTIME): plan size, and what deserializing it needs
- DIRECT_IO: an input restricted to the HWC format with and without the flag
- the others are printed and explained (FP16 / INT8 / precision constraints / sparse weights have their own scripts)
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
M, K, N = 64, 256, 64
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # the saved output comes from the engine built with TF32 cleared

FLAG_NOTES = {
    "FP16": "allow FP16 kernels (FP32 fallback) -> FP16.py",
    "INT8": "allow INT8 kernels; needs dynamic ranges or a calibrator -> INT8.py, 02-API/INT8-PTQ",
    "DEBUG": "synchronize after every layer (debugging)",
    "GPU_FALLBACK": "DLA only: run layers the DLA cannot run on the GPU",
    "STRICT_TYPES": "deprecated (8.2): = PREFER_PRECISION_CONSTRAINTS + DIRECT_IO + REJECT_EMPTY_ALGORITHMS",
    "REFIT": "build a refittable engine (weights can be replaced) -> 02-API/Refit",
    "DISABLE_TIMING_CACHE": "do not reuse timings across identical layers",
    "TF32": "allow TF32 tensor cores for FP32 conv / matmul (on by default)",
    "SPARSE_WEIGHTS": "allow 2:4 structured-sparse kernels -> SparseWeights.py",
    "SAFETY_SCOPE": "restrict to the safety scope (NVIDIA Drive only)",
    "OBEY_PRECISION_CONSTRAINTS": "layer precisions are obeyed, build fails otherwise -> PrecisionConstraints.py",
    "PREFER_PRECISION_CONSTRAINTS": "layer precisions are preferred, fall back with a warning",
    "DIRECT_IO": "no reformat between a network I/O tensor with allowed_formats and its layer",
    "REJECT_EMPTY_ALGORITHMS": "fail when an IAlgorithmSelector returns no algorithm -> 02-API/AlgorithmSelector",
    "ENABLE_TACTIC_HEURISTIC": "deprecated (8.6): heuristic tactic choice, use builder_optimization_level 2",
    "VERSION_COMPATIBLE": "plan runs on later TensorRT versions (lean runtime, fewer tactics)",
    "EXCLUDE_LEAN_RUNTIME": "with VERSION_COMPATIBLE: do not pack the lean runtime into the plan",
    "FP8": "not supported in 8.6 (the header warns: error or undefined behaviour); never set it",
}


def make_weight():
    rng = np.random.default_rng(97)
    return (rng.standard_normal((K, N)) / np.sqrt(K)).astype(np.float32)


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal((M, K)).astype(np.float32)}


def reference(inputs):
    y = inputs[INPUT_NAME].astype(np.float64) @ make_weight().astype(np.float64)
    return {
        OUTPUT_NAME: y.astype(np.float32),
        "default_engine_refittable": np.array(False),
        "refit_engine_refittable": np.array(True),
    }


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class CollectingLogger(trt.ILogger):
    """Keeps messages at or above min_severity (see 02-API/Logger)."""

    def __init__(self, min_severity=None):
        trt.ILogger.__init__(self)
        self.min_severity = trt.ILogger.Severity.WARNING if min_severity is None else min_severity
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(self.min_severity):
            self.messages.append((severity, msg))

    def take(self):
        messages, self.messages = self.messages, []
        return messages


def build_matmul(builder, weight, hwc_input=False):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    if hwc_input:  # a 4D input whose memory layout must be HWC (channel last)
        x = network.add_input(INPUT_NAME, trt.float32, (1, 4, M, K // 4))
        x.allowed_formats = 1 << int(trt.TensorFormat.HWC)
        shuffle = network.add_shuffle(x)
        shuffle.reshape_dims = (M, K)
        x2d = shuffle.get_output(0)
    else:
        x2d = network.add_input(INPUT_NAME, trt.float32, (M, K))
    w = network.add_constant((K, N), trt.Weights(weight))
    matmul = network.add_matrix_multiply(x2d, trt.MatrixOperation.NONE, w.get_output(0), trt.MatrixOperation.NONE)
    matmul.name = "MatMul"
    matmul.get_output(0).name = OUTPUT_NAME
    network.mark_output(matmul.get_output(0))
    return network


def build(builder, network, config, logger, label):
    logger.take()
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    messages = logger.take()
    if serialized is None:
        print(f"  {label}: build FAILED in {seconds:.2f} s")
    else:
        print(f"  {label}: plan of {serialized.nbytes} bytes in {seconds:.2f} s")
    for severity, text in messages:
        if int(severity) <= int(trt.ILogger.Severity.ERROR):
            print(f"    [{severity.name}] {text[:300]}")
    return serialized


def engine_of(runtime, serialized):
    if serialized is None:
        raise RuntimeError("the build failed (see the messages above)")
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine


def show_defaults(builder):
    config = builder.create_builder_config()
    print("=== Every BuilderFlag of TensorRT 8.6: value, default, meaning")
    for name in FLAG_NOTES:
        flag = getattr(trt.BuilderFlag, name)
        print(f"  {name:28s} value {int(flag):2d} default {int(config.get_flag(flag))}  {FLAG_NOTES[name]}")
    print(f"  config.flags = {config.flags:#x} (only TF32, bit {int(trt.BuilderFlag.TF32)}, is set by default)")
    config.set_flag(trt.BuilderFlag.STRICT_TYPES)
    print("  after set_flag(STRICT_TYPES): get_flag(STRICT_TYPES) = "
          f"{config.get_flag(trt.BuilderFlag.STRICT_TYPES)}, get_flag(PREFER_PRECISION_CONSTRAINTS) = "
          f"{config.get_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)}")


def main():
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    runtime = trt.Runtime(logger)
    weight = make_weight()
    inputs = make_inputs()
    expected = reference(inputs)
    show_defaults(builder)
    network = build_matmul(builder, weight)
    results = {}

    print("\n=== TF32 on / off: error of y = x @ W against float64 numpy")
    for tf32 in (True, False):
        config = builder.create_builder_config()
        if not tf32:
            config.clear_flag(trt.BuilderFlag.TF32)
        serialized = build(builder, network, config, logger, f"TF32 {'on ' if tf32 else 'off'}")
        engine = engine_of(runtime, serialized)
        y = run_engine(engine, inputs)[OUTPUT_NAME]
        print(f"    max abs error = {np.max(np.abs(y - expected[OUTPUT_NAME])):.3e} "
              f"(platform_has_tf32 = {builder.platform_has_tf32})")
        results["tf32" if tf32 else "fp32"] = y

    print("\n=== REFIT")
    for refit in (False, True):
        config = builder.create_builder_config()
        config.clear_flag(trt.BuilderFlag.TF32)
        if refit:
            config.set_flag(trt.BuilderFlag.REFIT)
        engine = engine_of(runtime, build(builder, network, config, logger, f"REFIT {refit}"))
        print(f"    engine.refittable = {engine.refittable}")
        results["refit_engine_refittable" if refit else "default_engine_refittable"] = np.array(engine.refittable)

    print("\n=== DISABLE_TIMING_CACHE and DEBUG (same results, different build / run behaviour)")
    for name in ("DISABLE_TIMING_CACHE", "DEBUG"):
        config = builder.create_builder_config()
        config.clear_flag(trt.BuilderFlag.TF32)
        config.set_flag(getattr(trt.BuilderFlag, name))
        engine = engine_of(runtime, build(builder, network, config, logger, name))
        y = run_engine(engine, inputs)[OUTPUT_NAME]
        print(f"    max abs error = {np.max(np.abs(y - expected[OUTPUT_NAME])):.3e}")

    print("\n=== VERSION_COMPATIBLE (+ EXCLUDE_LEAN_RUNTIME)")
    for exclude in (False, True):
        config = builder.create_builder_config()
        config.clear_flag(trt.BuilderFlag.TF32)
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
        if exclude:
            config.set_flag(trt.BuilderFlag.EXCLUDE_LEAN_RUNTIME)
        serialized = build(builder, network, config, logger,
                           "VERSION_COMPATIBLE" + (" + EXCLUDE_LEAN_RUNTIME" if exclude else ""))
        if serialized is None:
            continue
        for allowed in (False, True):
            vc_runtime = trt.Runtime(logger)
            vc_runtime.engine_host_code_allowed = allowed  # a plan with a lean runtime holds host code
            engine = vc_runtime.deserialize_cuda_engine(serialized)
            messages = [m for s, m in logger.take() if int(s) <= int(trt.ILogger.Severity.ERROR)]
            if engine is None:
                print(f"    engine_host_code_allowed = {allowed}: deserialize_cuda_engine returned None: "
                      f"{messages[-1][:200] if messages else ''}")
            else:
                y = run_engine(engine, inputs)[OUTPUT_NAME]
                print(f"    engine_host_code_allowed = {allowed}: deserialized and ran, "
                      f"max abs error = {np.max(np.abs(y - expected[OUTPUT_NAME])):.3e}")

    print("\n=== DIRECT_IO: input tensor restricted to TensorFormat.HWC, the MatMul needs LINEAR")
    hwc_network = build_matmul(builder, weight, hwc_input=True)
    for direct_io in (False, True):
        config = builder.create_builder_config()
        config.clear_flag(trt.BuilderFlag.TF32)
        if direct_io:
            config.set_flag(trt.BuilderFlag.DIRECT_IO)
        serialized = build(builder, hwc_network, config, logger, f"DIRECT_IO {direct_io}")
        if serialized is not None:
            engine = engine_of(runtime, serialized)
            inspector = engine.create_engine_inspector()
            layers = [inspector.get_layer_information(i, trt.LayerInformationFormat.ONELINE).strip()
                      for i in range(engine.num_layers)]
            print(f"    {engine.num_layers} engine layers: {layers}")

    print("\n=== FP8: not built (TensorRT 8.6 does not support it yet); SAFETY_SCOPE / GPU_FALLBACK need Drive / DLA; "
          "ENABLE_TACTIC_HEURISTIC is replaced by builder_optimization_level (BuilderOptimizationLevel.py)")

    passed = True
    outputs = {OUTPUT_NAME: results["fp32"]}
    err = float(np.max(np.abs(results["fp32"] - expected[OUTPUT_NAME])))
    ok = bool(np.allclose(results["fp32"], expected[OUTPUT_NAME], **TOLERANCE))
    print(f"\ncheck result: {ok}, TF32 off: max abs error = {err:.3e} "
          f"(TF32 on: {np.max(np.abs(results['tf32'] - expected[OUTPUT_NAME])):.3e}, printed only)")
    passed &= ok
    for key in ("default_engine_refittable", "refit_engine_refittable"):
        ok = bool(results[key] == expected[key])
        print(f"check result: {ok}, {key} = {bool(results[key])}")
        passed &= ok
        outputs[key] = results[key]
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


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


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
