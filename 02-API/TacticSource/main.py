#!/usr/bin/env python3
"""02-API/TacticSource: which libraries TensorRT may take kernels ("tactics") from.

config.set_tactic_sources(mask) takes a bit mask of trt.TacticSource values (1 << int(source)):
    CUBLAS, CUBLAS_LT, CUDNN            external libraries (loaded, with their GPU memory, only when enabled)
    EDGE_MASK_CONVOLUTIONS              TensorRT's own convolutions using edge-mask tables (more memory)
    JIT_CONVOLUTIONS                    TensorRT's own convolutions generated at build time (longer builds)
config.get_tactic_sources() returns the mask; engine.tactic_sources is the mask the engine was built with.

TensorRT 8.6 enables PreviewFeature.DISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805 by default: its own layers
then never use cuBLAS / cuBLASLt / cuDNN, whatever the mask says. This script shows the default build first,
then turns the preview feature off so that the mask decides, and builds the same conv + matmul network with all
sources, with none, and with each source alone. For every build it prints the mask, build time, engine size,
the library start-up lines of the log, and the tactic of every engine layer (EngineInspector, DETAILED), and
checks the output against numpy (TF32 off: FP32 tolerance).
"""
import json
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
SHAPE = (2, 4, 8, 8)  # N, C, H, W
C_OUT = 8
K_OUT = 16
# FP32 engine (TF32 cleared) against numpy.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal(SHAPE).astype(np.float32)}


def make_weights():
    """Seeded weights, scaled by 1/sqrt(fan-in) so that every intermediate value stays of order 1."""
    rng = np.random.default_rng(97)
    c_in = SHAPE[1]
    return {
        "conv_w": (rng.standard_normal((C_OUT, c_in, 3, 3)) / np.sqrt(c_in * 9)).astype(np.float32),
        "conv_b": (rng.standard_normal(C_OUT) * 0.1).astype(np.float32),
        "mm_w": (rng.standard_normal((1, SHAPE[2] * SHAPE[3], K_OUT)) / np.sqrt(SHAPE[2] * SHAPE[3])).astype(np.float32),
    }


def conv2d_same(x, w, b):
    """NCHW convolution, stride 1, zero padding 1 (3x3 kernel), in float64."""
    n, c, h, wd = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((n, w.shape[0], h, wd))
    for i in range(3):
        for j in range(3):
            y += np.einsum("nchw,kc->nkhw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j].astype(np.float64))
    return y + b.astype(np.float64)[None, :, None, None]


def reference(inputs):
    """conv 3x3 (pad 1) + bias -> ReLU -> reshape [N, C_OUT, H*W] -> matmul [H*W, K_OUT]."""
    w = make_weights()
    y = np.maximum(conv2d_same(inputs[INPUT_NAME], w["conv_w"], w["conv_b"]), 0)
    y = y.reshape(SHAPE[0], C_OUT, SHAPE[2] * SHAPE[3]) @ w["mm_w"].astype(np.float64)
    return {OUTPUT_NAME: y.astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class CollectingLogger(trt.ILogger):
    """Keeps every message (VERBOSE and up) so that we can pick out the tactic-source lines."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        self.messages.append((severity, msg))
        if severity <= trt.ILogger.Severity.ERROR:  # errors are printed at once
            print(f"[TRT] {severity.name}: {msg}")


ALL_SOURCES = [trt.TacticSource.CUBLAS, trt.TacticSource.CUBLAS_LT, trt.TacticSource.CUDNN,
               trt.TacticSource.EDGE_MASK_CONVOLUTIONS, trt.TacticSource.JIT_CONVOLUTIONS]
LIBRARY_WORDS = ("cublas", "cudnn", "tactic source", "peak memory usage")


def mask_of(sources):
    mask = 0
    for source in sources:
        mask |= 1 << int(source)
    return mask


def names_of(mask):
    return "|".join(s.name for s in ALL_SOURCES if mask & (1 << int(s))) or "(none)"


def build(logger, weights, tactic_mask=None, external_for_core=False):
    """Build the network; tactic_mask=None keeps the default sources. Returns (plan or None, seconds, config mask)."""
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 tolerance
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector then names each layer's tactic
    if external_for_core:  # let cuBLAS / cuBLASLt / cuDNN tactics compete for TensorRT's own layers
        config.set_preview_feature(trt.PreviewFeature.DISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805, False)
    if tactic_mask is not None:
        if not config.set_tactic_sources(tactic_mask):
            raise RuntimeError(f"set_tactic_sources({tactic_mask}) was refused")
    config_mask = config.get_tactic_sources()

    x = network.add_input(INPUT_NAME, trt.float32, SHAPE)
    conv = network.add_convolution_nd(x, C_OUT, (3, 3), weights["conv_w"], weights["conv_b"])
    conv.padding_nd = (1, 1)
    conv.name = "Conv"
    relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    relu.name = "ReLU"
    reshape = network.add_shuffle(relu.get_output(0))
    reshape.reshape_dims = (SHAPE[0], C_OUT, SHAPE[2] * SHAPE[3])
    reshape.name = "Reshape"
    mm_w = network.add_constant(weights["mm_w"].shape, weights["mm_w"])
    mm_w.name = "MatMulWeight"
    mm = network.add_matrix_multiply(reshape.get_output(0), trt.MatrixOperation.NONE,
                                     mm_w.get_output(0), trt.MatrixOperation.NONE)
    mm.name = "MatMul"
    mm.get_output(0).name = OUTPUT_NAME
    network.mark_output(mm.get_output(0))

    start = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    return plan, time.perf_counter() - start, config_mask


def run(engine, x):
    context = engine.create_execution_context()
    out = np.empty(tuple(context.get_tensor_shape(OUTPUT_NAME)), dtype=np.float32)
    d_in = check_cuda(cudart.cudaMalloc(x.nbytes))
    d_out = check_cuda(cudart.cudaMalloc(out.nbytes))
    context.set_tensor_address(INPUT_NAME, d_in)
    context.set_tensor_address(OUTPUT_NAME, d_out)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(d_in, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                      stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(out.ctypes.data, d_out, out.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    check_cuda(cudart.cudaStreamDestroy(stream))
    check_cuda(cudart.cudaFree(d_in))
    check_cuda(cudart.cudaFree(d_out))
    return out


def layer_tactics(engine):
    """[(layer name, tactic)] from the DETAILED engine information."""
    info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    result = []
    for layer in info.get("Layers", []):
        if isinstance(layer, dict):
            tactic = layer.get("TacticName") or layer.get("TacticValue") or "-"
            result.append((layer.get("Name", "?"), tactic))
        else:  # without DETAILED verbosity a layer is just its name
            result.append((str(layer), "-"))
    return result


def main():
    logger = CollectingLogger()
    runtime = trt.Runtime(logger)
    weights = make_weights()  # kept alive until every build is done
    inputs = make_inputs()
    expected = reference(inputs)[OUTPUT_NAME]

    probe = trt.Builder(logger).create_builder_config()
    default_mask = probe.get_tactic_sources()
    print(f"default config.get_tactic_sources() = {default_mask} = {names_of(default_mask)}")
    print("default PreviewFeature.DISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805 = "
          f"{probe.get_preview_feature(trt.PreviewFeature.DISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805)}")
    for source in ALL_SOURCES:
        print(f"  trt.TacticSource.{source.name:24s} bit {int(source)} -> mask value {1 << int(source)}")

    # (tag, mask or None for the default, let external libraries serve TensorRT's own layers)
    cases = [("default", None, False), ("all", mask_of(ALL_SOURCES), True), ("none", 0, True)]
    cases += [(s.name.lower(), mask_of([s]), True) for s in ALL_SOURCES]

    all_passed = True
    failed_builds = []
    for tag, mask, external_for_core in cases:
        print(f"\n=== build '{tag}'" + ("" if external_for_core else " (default config, preview feature on)"))
        logger.messages.clear()
        plan, seconds, config_mask = build(logger, weights, mask, external_for_core)
        print(f"config.get_tactic_sources() = {config_mask} = {names_of(config_mask)}")
        library_lines = []
        for _, msg in logger.messages:
            if any(word in msg.lower() for word in LIBRARY_WORDS) and msg not in library_lines:
                library_lines.append(msg)
        for msg in library_lines[:6]:
            print(f"  log: {msg[:150]}")
        if plan is None:
            errors = [msg for severity, msg in logger.messages if severity <= trt.ILogger.Severity.ERROR]
            print(f"build FAILED with this tactic-source mask: {errors[-1] if errors else '(no error message)'}")
            failed_builds.append(tag)
            all_passed = all_passed and tag != "all"  # the build with every source must work
            continue
        engine = runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise RuntimeError("deserializing the engine that was just built failed")
        print(f"build time {seconds:.2f} s, engine {plan.nbytes} bytes, device memory {engine.device_memory_size} "
              f"bytes, engine.tactic_sources = {engine.tactic_sources} = {names_of(engine.tactic_sources)}")
        for name, tactic in layer_tactics(engine):
            print(f"  layer {name[:60]:60s} tactic {tactic}")
        out = run(engine, inputs[INPUT_NAME])
        max_error = float(np.max(np.abs(out - expected)))
        passed = bool(np.allclose(out, expected, **TOLERANCE))
        print(f"check result: {passed}, max abs error = {max_error:.3e}")
        all_passed = all_passed and passed
        np.savez(f"{os.path.splitext(os.path.basename(__file__))[0]}.{tag}.output.npz", **{OUTPUT_NAME: out})

    print(f"\nbuilds that failed: {failed_builds or 'none'}")
    return all_passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
