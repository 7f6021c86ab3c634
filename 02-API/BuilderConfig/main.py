#!/usr/bin/env python3
"""02-API/BuilderConfig/main.py: every member of trt.IBuilderConfig in TensorRT 8.6 with its default, how to set
it and (where a small build shows it) what it changes.

Part 1: defaults of every member, then each one set and read back, then config.reset().
Part 2: builds that show an effect: memory pool limit, profiling verbosity (engine inspector output),
        hardware compatibility level (engine size), max aux streams (engine.num_aux_streams), engine capability.
The flags have their own script (Flags.py, FP16.py, INT8.py, PrecisionConstraints.py, SparseWeights.py) and so does
the builder optimization level (BuilderOptimizationLevel.py).
Network: two parallel convolution branches (3x3 and 1x1) added together, then ReLU; FP32 with TF32 cleared.
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
N, C, H, W, K = 2, 4, 8, 8, 8
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 with TF32 cleared

MEMORY_POOLS = ["WORKSPACE", "DLA_MANAGED_SRAM", "DLA_LOCAL_DRAM", "DLA_GLOBAL_DRAM", "TACTIC_DRAM"]
BUILDER_FLAGS = ["FP16", "INT8", "DEBUG", "GPU_FALLBACK", "STRICT_TYPES", "REFIT", "DISABLE_TIMING_CACHE", "TF32",
                 "SPARSE_WEIGHTS", "SAFETY_SCOPE", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS",
                 "DIRECT_IO", "REJECT_EMPTY_ALGORITHMS", "ENABLE_TACTIC_HEURISTIC", "VERSION_COMPATIBLE",
                 "EXCLUDE_LEAN_RUNTIME", "FP8"]
PREVIEW_FEATURES = ["FASTER_DYNAMIC_SHAPES_0805", "DISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805",
                    "PROFILE_SHARING_0806"]
TACTIC_SOURCES = ["CUBLAS", "CUBLAS_LT", "CUDNN", "EDGE_MASK_CONVOLUTIONS", "JIT_CONVOLUTIONS"]


def make_weights():
    rng = np.random.default_rng(97)
    return {
        "a.weight": (rng.standard_normal((K, C, 3, 3)) * 0.3).astype(np.float32),
        "a.bias": (rng.standard_normal(K) * 0.1).astype(np.float32),
        "b.weight": (rng.standard_normal((K, C, 1, 1)) * 0.3).astype(np.float32),
        "b.bias": (rng.standard_normal(K) * 0.1).astype(np.float32),
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
    y = conv2d(x, p["a.weight"], p["a.bias"]) + conv2d(x, p["b.weight"], p["b.bias"])
    return {OUTPUT_NAME: np.maximum(y, 0).astype(np.float32)}


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
    conv_a = network.add_convolution_nd(x, K, (3, 3), trt.Weights(weights["a.weight"]), trt.Weights(weights["a.bias"]))
    conv_a.padding_nd = (1, 1)
    conv_a.name = "Conv3x3"
    conv_b = network.add_convolution_nd(x, K, (1, 1), trt.Weights(weights["b.weight"]), trt.Weights(weights["b.bias"]))
    conv_b.name = "Conv1x1"
    add = network.add_elementwise(conv_a.get_output(0), conv_b.get_output(0), trt.ElementWiseOperation.SUM)
    add.name = "Add"
    relu = network.add_activation(add.get_output(0), trt.ActivationType.RELU)
    relu.name = "ReLU"
    relu.get_output(0).name = OUTPUT_NAME
    network.mark_output(relu.get_output(0))
    return network


def describe(config, network):
    """Print every member of the config."""
    for name in MEMORY_POOLS:
        limit = config.get_memory_pool_limit(getattr(trt.MemoryPoolType, name))
        print(f"  get_memory_pool_limit({name:16s}) = {limit} ({limit / 2**20:.1f} MiB)")
    print(f"  flags = {config.flags:#x} (bit i set <=> BuilderFlag with value i is set)")
    print("  get_flag: " + ", ".join(f"{n}={int(config.get_flag(getattr(trt.BuilderFlag, n)))}"
                                     for n in BUILDER_FLAGS))
    print("  get_preview_feature: " + ", ".join(
        f"{n}={config.get_preview_feature(getattr(trt.PreviewFeature, n))}" for n in PREVIEW_FEATURES))
    print(f"  quantization_flags = {config.quantization_flags:#x}, get_quantization_flag(CALIBRATE_BEFORE_FUSION) = "
          f"{config.get_quantization_flag(trt.QuantizationFlag.CALIBRATE_BEFORE_FUSION)}")
    sources = config.get_tactic_sources()
    print(f"  get_tactic_sources() = {sources:#x} = "
          f"{[n for n in TACTIC_SOURCES if sources & (1 << int(getattr(trt.TacticSource, n)))]} "
          "(see 02-API/TacticSource)")
    print(f"  profiling_verbosity = {config.profiling_verbosity}")
    print(f"  builder_optimization_level = {config.builder_optimization_level}")
    print(f"  hardware_compatibility_level = {config.hardware_compatibility_level}")
    print(f"  max_aux_streams = {config.max_aux_streams}")
    print(f"  engine_capability = {config.engine_capability}")
    print(f"  default_device_type = {config.default_device_type}, DLA_core = {config.DLA_core}")
    layer = network.get_layer(0)
    print(f"  for layer {layer.name!r}: get_device_type = {config.get_device_type(layer)}, "
          f"is_device_type_set = {config.is_device_type_set(layer)}, can_run_on_DLA = {config.can_run_on_DLA(layer)}")
    print(f"  avg_timing_iterations = {config.avg_timing_iterations}, "
          f"min_timing_iterations = {config.min_timing_iterations} (deprecated)")
    print(f"  num_optimization_profiles = {config.num_optimization_profiles}, "
          f"get_calibration_profile() = {config.get_calibration_profile()}")
    print(f"  int8_calibrator = {config.int8_calibrator} (see 02-API/INT8-PTQ), "
          f"algorithm_selector = {config.algorithm_selector} (see 02-API/AlgorithmSelector)")
    print(f"  get_timing_cache() = {config.get_timing_cache()} (see 02-API/TimingCache)")
    print(f"  profile_stream = {config.profile_stream}")
    print(f"  plugins_to_serialize = {config.plugins_to_serialize}")


def show_members(builder, network):
    config = builder.create_builder_config()
    print("=== Part 1: defaults of a new IBuilderConfig")
    describe(config, network)

    print("\n=== Part 1: setting each member")
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    config.set_memory_pool_limit(trt.MemoryPoolType.TACTIC_DRAM, 1 << 30)
    config.set_flag(trt.BuilderFlag.FP16)
    config.clear_flag(trt.BuilderFlag.TF32)
    config.flags = config.flags | (1 << int(trt.BuilderFlag.REFIT))  # the whole bit mask at once
    config.set_preview_feature(trt.PreviewFeature.PROFILE_SHARING_0806, True)
    config.set_quantization_flag(trt.QuantizationFlag.CALIBRATE_BEFORE_FUSION)
    config.set_tactic_sources(1 << int(trt.TacticSource.CUBLAS_LT) | 1 << int(trt.TacticSource.EDGE_MASK_CONVOLUTIONS))
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    config.builder_optimization_level = 5
    config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
    config.max_aux_streams = 2
    config.engine_capability = trt.EngineCapability.STANDARD  # SAFETY / DLA_STANDALONE need Drive / DLA
    config.default_device_type = trt.DeviceType.GPU  # DLA exists on Jetson / Drive only
    config.set_device_type(network.get_layer(0), trt.DeviceType.GPU)
    config.avg_timing_iterations = 4
    config.plugins_to_serialize = []  # paths of plugin libraries to pack into a version-compatible plan
    describe(config, network)
    config.reset_device_type(network.get_layer(0))
    config.clear_quantization_flag(trt.QuantizationFlag.CALIBRATE_BEFORE_FUSION)

    print("\n=== Part 1: after config.reset() (everything back to the defaults)")
    config.reset()
    describe(config, network)
    print("  max_workspace_size (deprecated since 8.3, use set_memory_pool_limit(WORKSPACE, ...)) = "
          f"{config.max_workspace_size}")


def new_config(builder):
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    return config


def build(builder, network, config, runtime, label):
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if serialized is None:
        raise RuntimeError(f"{label}: the build failed")
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError(f"{label}: deserializing the engine failed")
    print(f"  {label}: {serialized.nbytes} bytes, {engine.num_layers} engine layers, "
          f"device_memory_size = {engine.device_memory_size}, {seconds:.2f} s")
    return engine


def show_effects(builder, network, runtime):
    engines = {}
    print("\n=== Part 2: memory pool limit WORKSPACE (scratch memory that tactics may use)")
    for limit in (1 << 30, 0):
        config = new_config(builder)
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, limit)
        build(builder, network, config, runtime, f"WORKSPACE limit {limit:>10d}")
    print("  (tactics that need more scratch memory than the limit are skipped, a warning tells so with "
          "VERBOSE logging)")

    print("\n=== Part 2: profiling_verbosity -> what the engine inspector can report (see 02-API/EngineInspector)")
    for verbosity in (trt.ProfilingVerbosity.NONE, trt.ProfilingVerbosity.LAYER_NAMES_ONLY,
                      trt.ProfilingVerbosity.DETAILED):
        config = new_config(builder)
        config.profiling_verbosity = verbosity
        engine = build(builder, network, config, runtime, f"{verbosity.name:16s}")
        inspector = engine.create_engine_inspector()
        text = inspector.get_layer_information(0, trt.LayerInformationFormat.ONELINE)
        print(f"    engine.profiling_verbosity = {engine.profiling_verbosity}; layer 0: {text.strip()[:150]}")
        engines[verbosity.name] = engine

    print("\n=== Part 2: hardware_compatibility_level")
    for level in (trt.HardwareCompatibilityLevel.NONE, trt.HardwareCompatibilityLevel.AMPERE_PLUS):
        config = new_config(builder)
        config.hardware_compatibility_level = level
        engine = build(builder, network, config, runtime, f"{level.name:12s}")
        print(f"    engine.hardware_compatibility_level = {engine.hardware_compatibility_level}")
        engines[level.name] = engine

    print("\n=== Part 2: max_aux_streams (the two convolution branches could run in parallel)")
    for streams in (-1, 0, 2):
        config = new_config(builder)
        if streams >= 0:
            config.max_aux_streams = streams
        engine = build(builder, network, config, runtime,
                       f"max_aux_streams = {'default' if streams < 0 else streams}")
        print(f"    engine.num_aux_streams = {engine.num_aux_streams}")

    print("\n=== Part 2: engine_capability")
    engine = engines["DETAILED"]
    print(f"  default STANDARD engine: engine.engine_capability = {engine.engine_capability}; "
          "SAFETY needs the safety runtime (Drive), DLA_STANDALONE needs a DLA")
    return engines


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
    weights = make_weights()  # kept alive until the engines are built
    network = build_network(builder, weights)
    show_members(builder, network)
    engines = show_effects(builder, network, runtime)

    inputs = make_inputs()
    expected = reference(inputs)
    stem = os.path.splitext(os.path.basename(__file__))[0]
    passed = True
    print()
    for label, engine, path in (("default (DETAILED verbosity)", engines["DETAILED"], f"{stem}.output.npz"),
                                ("AMPERE_PLUS", engines["AMPERE_PLUS"], f"{stem}.ampere_plus.output.npz")):
        outputs = run_engine(engine, inputs)
        err = float(np.max(np.abs(outputs[OUTPUT_NAME] - expected[OUTPUT_NAME])))
        ok = bool(np.allclose(outputs[OUTPUT_NAME], expected[OUTPUT_NAME], **TOLERANCE))
        print(f"check result: {ok}, {label} engine: max abs error = {err:.3e}")
        passed &= ok
        np.savez(path, **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
