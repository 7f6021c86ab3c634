#!/usr/bin/env python3
"""02-API/AlgorithmSelector: see the algorithms (tactics) TensorRT considers for each layer, pin a choice, and
reproduce an engine from recorded choices, with an IAlgorithmSelector.

Network: x [1,4,8,8] -> Conv 3x3 (8 maps, padding 1) + ReLU -> MaxPool 2x2 -> y [1,8,4,4] (FP32, TF32 cleared).
The builder calls select_algorithms(context, choices) for each layer (and each combination of input/output
formats it tries) and report_algorithms(contexts, choices) once at the end with what it chose.
run_example(), with the run block's build_engine() (build_network() sets config.algorithm_selector):
1. "keep all": return every index; TensorRT picks the fastest; report_algorithms records its choices.
2. "replay":   return only the recorded algorithm of each layer; checked: the same tactics, layer by layer.
3. "min workspace": pin the candidate with the smallest workspace; checked: every reported choice is one that
   select_algorithms allowed. Each engine's output is checked against numpy.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 with TF32 cleared
SHAPE, MAPS = (1, 4, 8, 8), 8
PRINT_CANDIDATES = 4  # candidates printed for the first call of each layer


def io_infos(context, algorithm):
    """The IAlgorithmIOInfo of each input, then each output, of one algorithm."""
    return [algorithm.get_algorithm_io_info(i) for i in range(context.num_inputs + context.num_outputs)]


def algorithm_key(context, algorithm):
    """What identifies an algorithm: implementation, tactic, and the data type / layout of every input and output
    (io_info.tensor_format is deprecated in 8.6: strides, vectorized_dim and components_per_element describe it)."""
    variant = algorithm.algorithm_variant
    io = tuple((info.dtype.name, tuple(info.strides), info.vectorized_dim, info.components_per_element)
               for info in io_infos(context, algorithm))
    return int(variant.implementation), int(variant.tactic), io


def opt_shape(context, index):
    """context.get_shape(i) is [min, opt, max] of input/output i (an empty list while shapes are unknown)."""
    shapes = context.get_shape(index)
    return tuple(shapes[1]) if len(shapes) == 3 else ()


def describe_io(info):
    """e.g. FLOAT(256, 64, 8, 1) for a linear layout, HALF(...)/vec1x8 for 8 channels packed per element."""
    text = f"{info.dtype.name}{tuple(info.strides)}"
    if info.vectorized_dim >= 0:  # a vectorized format such as CHW4 / HWC8: which dimension, how many components
        text += f"/vec{info.vectorized_dim}x{info.components_per_element}"
    return text


def describe(context, algorithm):
    variant = algorithm.algorithm_variant
    io = ", ".join(describe_io(info) for info in io_infos(context, algorithm))
    return (f"implementation={variant.implementation} tactic={variant.tactic} timing_msec={algorithm.timing_msec:.4f} "
            f"workspace_size={algorithm.workspace_size} io=[{io}]")


class MyAlgorithmSelector(trt.IAlgorithmSelector):
    """mode: "keep_all" (TensorRT decides), "replay" (the choices in `recorded`), "min_workspace" (pinned)."""

    def __init__(self, mode, recorded=None):
        trt.IAlgorithmSelector.__init__(self)  # required: initialises the C++ side of the interface
        self.mode = mode
        self.recorded = recorded or {}  # {layer name: algorithm_key} from an earlier build
        self.reported = {}  # {layer name: (algorithm_key, description)} filled by report_algorithms
        self.allowed = {}  # {layer name: set of the algorithm_keys select_algorithms returned}
        self.calls = 0
        self.printed = set()

    def select_algorithms(self, context, choices):
        """Return the indices of `choices` that TensorRT may use (an empty list: TensorRT's default, all)."""
        self.calls += 1
        keys = [algorithm_key(context, algorithm) for algorithm in choices]
        if context.name not in self.printed:  # print the first call of each layer
            self.printed.add(context.name)
            shapes = [opt_shape(context, i) for i in range(context.num_inputs + context.num_outputs)]
            print(f"  select_algorithms: '{context.name}', {context.num_inputs} input(s), {context.num_outputs} "
                  f"output(s), opt shapes {shapes}, {len(choices)} candidates")
            for algorithm in choices[:PRINT_CANDIDATES]:
                print(f"      {describe(context, algorithm)}")
            if len(choices) > PRINT_CANDIDATES:
                print(f"      ... and {len(choices) - PRINT_CANDIDATES} more")
        selected = list(range(len(choices)))
        if self.mode == "replay" and context.name in self.recorded:
            # this call may be for a format combination other than the recorded one: then nothing matches and
            # TensorRT may use all of them (it still prefers the recorded one only if it is faster overall)
            selected = [i for i, key in enumerate(keys) if key == self.recorded[context.name]] or selected
        elif self.mode == "min_workspace":  # ties broken by (implementation, tactic): independent of timing
            selected = [min(selected, key=lambda i: (choices[i].workspace_size, keys[i][0], keys[i][1]))]
        self.allowed.setdefault(context.name, set()).update(keys[i] for i in selected)
        return selected

    def report_algorithms(self, contexts, choices):
        """choices[i] is what TensorRT chose for contexts[i]; called once per optimization profile, after selection."""
        for context, algorithm in zip(contexts, choices):
            self.reported[context.name] = (algorithm_key(context, algorithm), describe(context, algorithm))


def network_with(selector):
    def build_network(builder, network, config, inputs):
        config.clear_flag(trt.BuilderFlag.TF32)
        config.algorithm_selector = selector  # `selector` must stay alive until the build has finished
        kernel, bias = make_weights()
        conv = network.add_convolution_nd(network.add_input("x", trt.float32, SHAPE), MAPS, (3, 3), kernel, bias)
        conv.padding_nd = (1, 1)
        conv.name = "Conv"
        relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
        relu.name = "ReLU"
        pool = network.add_pooling_nd(relu.get_output(0), trt.PoolingType.MAX, (2, 2))
        pool.stride_nd = (2, 2)
        pool.name = "MaxPool"
        pool.get_output(0).name = "y"
        network.mark_output(pool.get_output(0))
        return kernel, bias, selector
    return build_network


def build_and_run(title, selector, inputs):
    print(f"=== {title}")
    engine = build_engine(network_with(selector), inputs)
    print(f"  {selector.calls} calls of select_algorithms; report_algorithms: what TensorRT chose")
    for name, (_, description) in selector.reported.items():
        print(f"    '{name}': {description}")
    # every reported choice of a layer that select_algorithms was asked about is one it allowed
    checked = [key in selector.allowed[name] for name, (key, _) in selector.reported.items()
               if name in selector.allowed]
    respected = bool(checked) and all(checked)
    return engine, run_engine(engine, inputs)["y"], respected


def tactics(selector):
    """{layer name: (implementation, tactic)} of what TensorRT reported."""
    return {name: key[:2] for name, (key, _) in selector.reported.items()}


def run_example(inputs):
    keep_all = MyAlgorithmSelector("keep_all")
    engine_1, out_1, _ = build_and_run("1. keep all: TensorRT chooses, report_algorithms records its choices",
                                       keep_all, inputs)
    replay = MyAlgorithmSelector("replay", {name: key for name, (key, _) in keep_all.reported.items()})
    engine_2, out_2, _ = build_and_run("2. replay: only the recorded algorithm of each layer", replay, inputs)
    same = bool(keep_all.reported) and tactics(replay) == tactics(keep_all)
    print(f"  same (implementation, tactic) for every layer as build 1: {same}; "
          f"same engine bytes: {bytes(engine_2.serialize()) == bytes(engine_1.serialize())}")
    min_workspace = MyAlgorithmSelector("min_workspace")
    _, out_3, respected = build_and_run("3. min workspace: pinned to the candidate with the smallest workspace",
                                        min_workspace, inputs)
    chosen, fastest = tactics(min_workspace), tactics(keep_all)
    for name in sorted(set(chosen) | set(fastest)):
        if chosen.get(name) != fastest.get(name):
            print(f"  '{name}': TensorRT's pick {fastest.get(name)} -> pinned {chosen.get(name)}")
    return {"y_keep_all": out_1, "y_replayed": out_2, "y_min_workspace": out_3,
            "replay/reproduced_tactics": np.array(same), "min_workspace/choices_respected": np.array(respected)}


def make_weights():
    rng = np.random.default_rng(7)
    kernel = (rng.standard_normal((MAPS, SHAPE[1], 3, 3)) / 6).astype(np.float32)
    return kernel, rng.standard_normal(MAPS).astype(np.float32)


def make_inputs():
    return {"x": np.random.default_rng(31193).standard_normal(SHAPE).astype(np.float32)}


def reference(inputs):
    """numpy (float64): 3x3 convolution with padding 1 + bias, ReLU, 2x2 max pooling; both selector checks hold."""
    kernel, bias = make_weights()
    x = inputs["x"].astype(np.float64)
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = sum(np.einsum("nchw,kc->nkhw", padded[:, :, i:i + h, j:j + w], kernel[:, :, i, j].astype(np.float64))
               for i in range(3) for j in range(3))
    relu = np.maximum(conv + bias.astype(np.float64)[None, :, None, None], 0)
    pooled = relu.reshape(n, MAPS, h // 2, 2, w // 2, 2).max(axis=(3, 5)).astype(np.float32)
    return {"y_keep_all": pooled, "y_replayed": pooled, "y_min_workspace": pooled,
            "replay/reproduced_tactics": np.array(True), "min_workspace/choices_respected": np.array(True)}


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
