#!/usr/bin/env python3
"""02-API/EngineInspector: what an engine is made of, as text or JSON, and how ProfilingVerbosity changes it.

config.profiling_verbosity decides how much layer information the engine keeps:
    LAYER_NAMES_ONLY (default)  layer names only
    DETAILED                    names plus tactic, formats, shapes, parameters of every layer
    NONE                        nothing (the profiler and the inspector see layer indices)
engine.create_engine_inspector() returns an EngineInspector:
    inspector.execution_context = context   gives it concrete shapes (needed with dynamic shapes)
    inspector.get_layer_information(i, trt.LayerInformationFormat.ONELINE / JSON)   one engine layer
    inspector.get_engine_information(trt.LayerInformationFormat.JSON)              all layers + bindings
The same small network (dynamic batch) is built with each verbosity; the script prints what the inspector
returns, checks that the JSON parses and (except with NONE) names the network's layers, and checks the output.
"""
import json
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
SHAPE = (2, 3, 8, 8)  # the shape we run; the batch dimension is dynamic (1..4)
C_OUT = 4
LAYER_NAMES = ["Conv", "ReLU", "MaxPool"]  # the names given to the network's layers
# FP32 engine (TF32 cleared) against numpy.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal(SHAPE).astype(np.float32)}


def make_weights():
    rng = np.random.default_rng(97)
    return {"conv_w": (rng.standard_normal((C_OUT, SHAPE[1], 3, 3)) / np.sqrt(SHAPE[1] * 9)).astype(np.float32),
            "conv_b": (rng.standard_normal(C_OUT) * 0.1).astype(np.float32)}


def reference(inputs):
    """conv 3x3 pad 1 + bias -> ReLU -> max pool 2x2 stride 2; json_ok: the inspector's JSON checks pass."""
    w = make_weights()
    x = inputs[INPUT_NAME].astype(np.float64)
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((n, C_OUT, h, wd))
    for i in range(3):
        for j in range(3):
            y += np.einsum("nchw,kc->nkhw", xp[:, :, i:i + h, j:j + wd], w["conv_w"][:, :, i, j].astype(np.float64))
    y = np.maximum(y + w["conv_b"][None, :, None, None], 0)
    y = y.reshape(n, C_OUT, h // 2, 2, wd // 2, 2).max(axis=(3, 5))
    return {OUTPUT_NAME: y.astype(np.float32), "json_ok": np.array(True)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(logger, runtime, verbosity):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    profile = builder.create_optimization_profile()
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    config.profiling_verbosity = verbosity
    w = make_weights()

    x = network.add_input(INPUT_NAME, trt.float32, (-1,) + SHAPE[1:])
    profile.set_shape(INPUT_NAME, (1,) + SHAPE[1:], SHAPE, (4,) + SHAPE[1:])
    config.add_optimization_profile(profile)
    conv = network.add_convolution_nd(x, C_OUT, (3, 3), w["conv_w"], w["conv_b"])
    conv.padding_nd = (1, 1)
    conv.name = LAYER_NAMES[0]
    relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    relu.name = LAYER_NAMES[1]
    pool = network.add_pooling_nd(relu.get_output(0), trt.PoolingType.MAX, (2, 2))
    pool.stride_nd = (2, 2)
    pool.name = LAYER_NAMES[2]
    pool.get_output(0).name = OUTPUT_NAME
    network.mark_output(pool.get_output(0))

    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("building the engine failed")
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


def infer(context, x):
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


def inspect(engine, context, verbosity):
    """Print what the inspector returns; True when the JSON parses and names our layers (not checked with NONE,
    where the engine keeps no layer information)."""
    strict = verbosity != trt.ProfilingVerbosity.NONE
    inspector = engine.create_engine_inspector()
    inspector.execution_context = context  # concrete shapes for the dynamic batch dimension
    print(f"inspector.execution_context is set: {inspector.execution_context is not None}")

    json_ok = True
    for i in range(engine.num_layers):
        print(f"  get_layer_information({i}, ONELINE): "
              f"{inspector.get_layer_information(i, trt.LayerInformationFormat.ONELINE).strip()[:200]}")
        text = inspector.get_layer_information(i, trt.LayerInformationFormat.JSON)
        try:
            layer = json.loads(text)
        except ValueError as error:
            print(f"  layer {i}: JSON does not parse ({error}): {text[:100]!r}")
            json_ok = json_ok and not strict
            continue
        if i == 0:
            print(f"  get_layer_information(0, JSON) parsed:\n{json.dumps(layer, indent=2)[:1500]}")

    text = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    try:
        info = json.loads(text)
    except ValueError as error:
        print(f"  get_engine_information(JSON) does not parse ({error}): {text[:100]!r}")
        return not strict
    layers = info.get("Layers", []) if isinstance(info, dict) else []
    print(f"  get_engine_information(JSON): keys {list(info) if isinstance(info, dict) else type(info).__name__}, "
          f"{len(layers)} layers, bindings {info.get('Bindings') if isinstance(info, dict) else None}")
    names = [layer.get("Name", "") if isinstance(layer, dict) else str(layer) for layer in layers]
    print(f"  engine layer names: {names}")
    if strict:
        missing = [name for name in LAYER_NAMES if not any(name in engine_name for engine_name in names)]
        print(f"  network layers not named in the JSON: {missing or 'none'} "
              "(fused layers carry joined names, e.g. 'Conv + ReLU')")
        json_ok = json_ok and not missing
    return json_ok


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    runtime = trt.Runtime(logger)
    inputs = make_inputs()
    expected = reference(inputs)
    passed = True
    for verbosity in (trt.ProfilingVerbosity.LAYER_NAMES_ONLY, trt.ProfilingVerbosity.DETAILED,
                      trt.ProfilingVerbosity.NONE):
        print(f"\n=== config.profiling_verbosity = {verbosity}")
        engine = build_engine(logger, runtime, verbosity)
        print(f"engine.profiling_verbosity = {engine.profiling_verbosity}, engine.num_layers = {engine.num_layers}")
        context = engine.create_execution_context()
        context.set_input_shape(INPUT_NAME, SHAPE)
        json_ok = inspect(engine, context, verbosity)
        print(f"check result: {json_ok}, the inspector's JSON parses and names the network's layers"
              + (" (not required with NONE)" if verbosity == trt.ProfilingVerbosity.NONE else ""))
        out = infer(context, inputs[INPUT_NAME])
        max_error = float(np.max(np.abs(out - expected[OUTPUT_NAME])))
        ok = bool(np.allclose(out, expected[OUTPUT_NAME], **TOLERANCE))
        print(f"check result: {ok}, max abs error = {max_error:.3e}")
        passed = passed and ok and json_ok
        tag = verbosity.name.lower()
        np.savez(f"{os.path.splitext(os.path.basename(__file__))[0]}.{tag}.output.npz",
                 **{OUTPUT_NAME: out, "json_ok": np.array(json_ok)})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
