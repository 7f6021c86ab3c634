#!/usr/bin/env python3
"""02-API/BuilderConfig/main.py: every member of trt.IBuilderConfig in TensorRT 8.6 with its default, how to set
it and (where a small build shows it) what it changes.

Part 1: defaults of every member, then each one set and read back, then config.reset() (checked: the members set
        above are back to a new config's values).
Part 2: builds that show an effect: memory pool limit, profiling verbosity (engine inspector output),
        hardware compatibility level (checked: the engine reports AMPERE_PLUS), max aux streams
        (engine.num_aux_streams), engine capability. Checked: the outputs of the DETAILED and AMPERE_PLUS engines.
The flags have their own script (Flags.py, FP16.py, INT8.py, PrecisionConstraints.py, SparseWeights.py) and so does
the builder optimization level (BuilderOptimizationLevel.py).
Network: two parallel convolution branches (3x3 and 1x1) added together, then ReLU; FP32 with TF32 cleared.
"""
import functools
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
RESET_CHECKED = ("flags", "WORKSPACE", "profiling_verbosity", "builder_optimization_level",
                 "hardware_compatibility_level", "max_aux_streams", "avg_timing_iterations")


def make_weights():
    rng = np.random.default_rng(97)
    return {
        "a.weight": (rng.standard_normal((K, C, 3, 3)) * 0.3).astype(np.float32),
        "a.bias": (rng.standard_normal(K) * 0.1).astype(np.float32),
        "b.weight": (rng.standard_normal((K, C, 1, 1)) * 0.3).astype(np.float32),
        "b.bias": (rng.standard_normal(K) * 0.1).astype(np.float32),
    }


def build_network(builder, network, config, inputs, workspace=None, **members):
    """members: config attributes to set, e.g. profiling_verbosity=trt.ProfilingVerbosity.DETAILED."""
    config.clear_flag(trt.BuilderFlag.TF32)
    if workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    for member, value in members.items():
        setattr(config, member, value)
    weights = make_weights()
    x = network.add_input("inputT0", trt.float32, (N, C, H, W))
    conv_a = network.add_convolution_nd(x, K, (3, 3), trt.Weights(weights["a.weight"]), trt.Weights(weights["a.bias"]))
    conv_a.padding_nd = (1, 1)
    conv_a.name = "Conv3x3"
    conv_b = network.add_convolution_nd(x, K, (1, 1), trt.Weights(weights["b.weight"]), trt.Weights(weights["b.bias"]))
    conv_b.name = "Conv1x1"
    add = network.add_elementwise(conv_a.get_output(0), conv_b.get_output(0), trt.ElementWiseOperation.SUM)
    add.name = "Add"
    relu = network.add_activation(add.get_output(0), trt.ActivationType.RELU)
    relu.name = "ReLU"
    relu.get_output(0).name = "outputT0"
    network.mark_output(relu.get_output(0))
    return weights  # TensorRT reads the weights during the build


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
    fresh = builder.create_builder_config()
    same = [name for name in RESET_CHECKED if read(config, name) == read(fresh, name)]
    print(f"  members equal to a new config's after reset(): {same} of {list(RESET_CHECKED)}")
    return {"reset_restores_defaults": np.array(len(same) == len(RESET_CHECKED))}


def read(config, name):
    if name == "WORKSPACE":
        return config.get_memory_pool_limit(trt.MemoryPoolType.WORKSPACE)
    return getattr(config, name)


def build(label, inputs, logger, **settings):
    start = time.perf_counter()
    engine = build_engine(functools.partial(build_network, **settings), inputs, logger)
    seconds = time.perf_counter() - start
    print(f"  {label}: {engine.serialize().nbytes} bytes, {engine.num_layers} engine layers, "
          f"device_memory_size = {engine.device_memory_size}, {seconds:.2f} s (build + deserialize)")
    return engine


def show_effects(inputs, logger):
    engines = {}
    print("\n=== Part 2: memory pool limit WORKSPACE (scratch memory that tactics may use)")
    for limit in (1 << 30, 0):
        build(f"WORKSPACE limit {limit:>10d}", inputs, logger, workspace=limit)
    print("  (tactics that need more scratch memory than the limit are skipped, a warning tells so with "
          "VERBOSE logging)")

    print("\n=== Part 2: profiling_verbosity -> what the engine inspector can report (see 02-API/EngineInspector)")
    for verbosity in (trt.ProfilingVerbosity.NONE, trt.ProfilingVerbosity.LAYER_NAMES_ONLY,
                      trt.ProfilingVerbosity.DETAILED):
        engine = build(f"{verbosity.name:16s}", inputs, logger, profiling_verbosity=verbosity)
        text = engine.create_engine_inspector().get_layer_information(0, trt.LayerInformationFormat.ONELINE)
        print(f"    engine.profiling_verbosity = {engine.profiling_verbosity}; layer 0: {text.strip()[:150]}")
        engines[verbosity.name] = engine

    print("\n=== Part 2: hardware_compatibility_level")
    for level in (trt.HardwareCompatibilityLevel.NONE, trt.HardwareCompatibilityLevel.AMPERE_PLUS):
        engine = build(f"{level.name:12s}", inputs, logger, hardware_compatibility_level=level)
        print(f"    engine.hardware_compatibility_level = {engine.hardware_compatibility_level}")
        engines[level.name] = engine

    print("\n=== Part 2: max_aux_streams (the two convolution branches could run in parallel)")
    for streams in (None, 0, 2):
        settings = {} if streams is None else {"max_aux_streams": streams}
        engine = build(f"max_aux_streams = {'default' if streams is None else streams}", inputs, logger, **settings)
        print(f"    engine.num_aux_streams = {engine.num_aux_streams}")

    print("\n=== Part 2: engine_capability")
    print(f"  default STANDARD engine: engine.engine_capability = {engines['DETAILED'].engine_capability}; "
          "SAFETY needs the safety runtime (Drive), DLA_STANDALONE needs a DLA")
    return engines


def run_example(inputs):
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    weights = build_network(builder, network, builder.create_builder_config(), inputs)  # a network for Part 1
    facts = show_members(builder, network)
    del weights, network, builder
    engines = show_effects(inputs, logger)
    ampere_plus = engines["AMPERE_PLUS"]
    print()
    return {"outputT0": run_engine(engines["DETAILED"], inputs)["outputT0"],
            "ampere_plus/outputT0": run_engine(ampere_plus, inputs)["outputT0"],
            "ampere_plus/engine_reports_it": np.array(
                ampere_plus.hardware_compatibility_level == trt.HardwareCompatibilityLevel.AMPERE_PLUS),
            **facts}


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"inputT0": rng.standard_normal((N, C, H, W)).astype(np.float32)}


def reference(inputs):
    p = {k: v.astype(np.float64) for k, v in make_weights().items()}
    x = inputs["inputT0"].astype(np.float64)
    y = np.maximum(conv2d(x, p["a.weight"], p["a.bias"]) + conv2d(x, p["b.weight"], p["b.bias"]), 0)
    y = y.astype(np.float32)
    # NvInfer.h: reset() "Resets the builder configuration to defaults"; an engine reports the
    # hardware compatibility level it was built with
    return {"outputT0": y, "ampere_plus/outputT0": y, "ampere_plus/engine_reports_it": np.array(True),
            "reset_restores_defaults": np.array(True)}


# ==== numpy helpers of this folder: identical in every script of the folder that has them ====


def conv2d(x, w, b):
    """Convolution with stride 1 and 'same' zero padding (odd kernel), NCHW / OIHW, in float64."""
    r = w.shape[2] // 2
    xp = np.pad(x, ((0, 0), (0, 0), (r, r), (r, r)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True) + b.reshape(1, -1, 1, 1)


def engine_layers(engine):
    """The engine inspector's JSON (the engine built with ProfilingVerbosity.DETAILED), one dict per engine layer.

    An execution context is attached so that the inspector knows the shapes; with static shapes it reports each
    layer's input and output formats ("Format/Datatype"), e.g. "Row major linear FP32", "Channel major FP16 format
    where channel % 8 == 0" or "Thirty-two wide channel vectorized row major Int8 format".
    """
    inspector = engine.create_engine_inspector()
    context = engine.create_execution_context()
    inspector.execution_context = context
    info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    del inspector, context  # release the context before the script creates its own
    return [layer if isinstance(layer, dict) else {"Name": str(layer)} for layer in info["Layers"]]


def print_layers(layers):
    for layer in layers:
        formats = [io.get("Format/Datatype", "?") for io in layer.get("Inputs", [])]
        print(f"  {layer.get('Name', '?')} ({layer.get('LayerType', '?')}): input formats {formats}, "
              f"tactic {layer.get('TacticName', '-')}")


def computing(layers, name):
    """The engine layers that compute the network layer `name` (alone or fused, e.g. "Conv1 + ReLU1")."""
    return [layer for layer in layers if name in layer.get("Name", "") and layer.get("LayerType") not in
            ("Reformat", "NoOp") and not layer.get("Name", "").startswith("Reformatting")]


def input_format_names(layer, tokens):
    """Whether the format of the layer's first input names one of `tokens` (e.g. ("FP16", "Half"))."""
    inputs = layer.get("Inputs") or [{}]
    return any(token in inputs[0].get("Format/Datatype", "") for token in tokens)


# ==== run block: identical in every script that has it (canonical copy: tests/run_block.py) ====
# What sits above this line is the lesson. What follows builds, runs and checks, the same way in every script:
# `python3 tests/sync_blocks.py --write` rewrites every copy from tests/run_block.py, and a CPU test fails when
# a copy drifts. A script defines make_inputs(), reference(inputs), TOLERANCE and either
# build_network(builder, network, config, inputs) or, when its topic needs several builds or an expected
# failure, run_example(inputs) -> {output name: numpy array}. KNOWN_DEVIATIONS (optional) names outputs where
# TensorRT 8.6.0 is known to differ from its documentation: their check passes while the difference persists.


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def needs_profile(network):
    """TensorRT needs an optimization profile for dynamic input shapes and shape-tensor inputs; 8.6.0 also
    refuses to create an execution context for an output whose shape depends on data without one."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    outputs = [network.get_output(i) for i in range(network.num_outputs)]
    return any(t.is_shape_tensor or -1 in tuple(t.shape) for t in inputs) or any(-1 in tuple(t.shape) for t in outputs)


def build_engine(build_network, inputs, logger=None):
    """Builder, network and config; build_network() adds the layers; build, then deserialize the plan.

    Without a profile from build_network() where one is needed, one is added that covers exactly `inputs`.
    """
    logger = logger or trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    keep_alive = build_network(builder, network, config, inputs)  # numpy weights must live until the build ends
    if config.num_optimization_profiles == 0 and needs_profile(network):
        profile = builder.create_optimization_profile()
        for tensor in (network.get_input(i) for i in range(network.num_inputs)):
            value = np.asarray(inputs[tensor.name])
            if tensor.is_shape_tensor:  # the range of its values, not of its shape
                profile.set_shape_input(tensor.name, *[tuple(int(v) for v in value.ravel())] * 3)
            if -1 in tuple(tensor.shape) or not tensor.is_shape_tensor:  # static shapes too: a profile names all
                profile.set_shape(tensor.name, *[value.shape] * 3)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    del keep_alive
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed (see the TensorRT log above)")
    return engine


class OutputAllocator(trt.IOutputAllocator):
    """Device memory for an output whose shape is known only during enqueue (NonZero, NMS, ...)."""

    def __init__(self):
        trt.IOutputAllocator.__init__(self)
        self.address, self.size, self.shape = 0, 0, None

    def reallocate_output(self, tensor_name, memory, size, alignment):
        if size > self.size:
            if self.address:
                check_cuda(cudart.cudaFree(self.address))
            self.address, self.size = check_cuda(cudart.cudaMalloc(size)), size
        return self.address

    def notify_shape(self, tensor_name, shape):
        self.shape = tuple(shape)


def run_engine(engine, inputs, profile_index=0):
    """Bind every I/O tensor by name, run once with execute_async_v3, return {output name: numpy array}."""
    context = engine.create_execution_context()
    if context is None:
        raise RuntimeError("create_execution_context failed (see the TensorRT log above)")
    stream = check_cuda(cudart.cudaStreamCreate())
    if profile_index:
        context.set_optimization_profile_async(profile_index, int(stream))
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device, allocators = {}, {}, {}

    def bind(name, shape):  # host array + its address for TensorRT: on the GPU, or in host memory (shape tensors)
        if name not in host:
            host[name] = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        if engine.get_tensor_location(name) == trt.TensorLocation.HOST:
            context.set_tensor_address(name, host[name].ctypes.data)
        else:
            device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
            context.set_tensor_address(name, device[name])

    for name in input_names:
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        if -1 in tuple(engine.get_tensor_shape(name)):  # only dynamic dimensions need a run-time shape
            context.set_input_shape(name, host[name].shape)
        bind(name, host[name].shape)
    for name in output_names:  # shapes are known once every input shape and shape-tensor value is set
        shape = tuple(context.get_tensor_shape(name))
        if -1 in shape:  # data-dependent: TensorRT asks the allocator for memory during enqueue
            allocators[name] = OutputAllocator()
            if not context.set_output_allocator(name, allocators[name]):
                raise RuntimeError(f"set_output_allocator({name}) failed")
        else:
            bind(name, shape)
    for name in input_names:
        if name in device:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed (see the TensorRT log above)")
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for name, allocator in allocators.items():  # the shape is known now
        host[name] = np.empty(allocator.shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        device[name] = allocator.address
    for name in output_names:
        if name in device and host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in device.values():
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return {name: host[name] for name in output_names}


def check_outputs(outputs, expected):
    """Compare each output with the reference: shape, dtype, then values (floats within the output's tolerance,
    TOLERANCE[name] or TOLERANCE; integers and booleans exactly). Prints one `check result` line per output."""
    passed = True
    for name, want in expected.items():
        got = outputs.get(name)
        tolerance = TOLERANCE.get(name, {"rtol": TOLERANCE["rtol"], "atol": TOLERANCE["atol"]})
        if got is None or got.shape != want.shape or got.dtype != want.dtype:
            found = "missing" if got is None else f"{got.shape} {got.dtype}"
            print(f"check result: False, {name}: got {found}, expected {want.shape} {want.dtype}")
            passed = False
            continue
        if want.dtype.kind in "fc":
            error = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
            same = bool(np.allclose(got, want, equal_nan=True, **tolerance))
            detail = f"max abs error = {error:.3e} (rtol={tolerance['rtol']}, atol={tolerance['atol']})"
        else:
            same = bool(np.array_equal(got, want))
            detail = f"{int(np.sum(got != want))} of {want.size} elements differ (exact comparison)"
        deviation = globals().get("KNOWN_DEVIATIONS", {}).get(name)
        if deviation:  # the documented result is the reference; TensorRT 8.6.0 is known to give another
            print(f"check result: {not same}, {name}: known deviation of TensorRT 8.6.0 still present: {not same},"
                  f" {detail}\n  {deviation}")
            if same:
                print(f"  TensorRT now follows its documentation here: remove {name} from KNOWN_DEVIATIONS")
            passed = passed and not same
        else:
            print(f"check result: {same}, {name}: {detail}")
            passed = passed and same
    return passed


def main():
    np.set_printoptions(precision=4, linewidth=120, suppress=True)
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"input {name} {value.shape} {value.dtype}:\n{value}")
    if "run_example" in globals():
        outputs = run_example(inputs)
    else:
        outputs = run_engine(build_engine(build_network, inputs), inputs)
    expected = reference(inputs)
    for name in expected:
        if name in outputs:
            print(f"output {name} {outputs[name].shape} {outputs[name].dtype}:\n{outputs[name]}")
    passed = check_outputs(outputs, expected)
    stem = os.path.splitext(os.path.basename(__file__))[0]
    np.savez(f"{stem}.output.npz", **{name: outputs[name] for name in expected if name in outputs})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
