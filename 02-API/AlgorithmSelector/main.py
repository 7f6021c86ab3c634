#!/usr/bin/env python3
"""02-API/AlgorithmSelector: see the algorithms (tactics) TensorRT considers for each layer, pin a choice, and
reproduce an engine from recorded choices, with an IAlgorithmSelector.

Network: x [1,4,8,8] -> Conv 3x3 (8 maps, padding 1) + ReLU -> MaxPool 2x2 -> y [1,8,4,4] (FP32, TF32 cleared).
The builder calls select_algorithms(context, choices) for each layer (and each combination of input/output
formats it tries) and report_algorithms(contexts, choices) once at the end with what it chose.
1. "keep all": return every index; TensorRT picks the fastest; report_algorithms records its choices.
2. "replay":   return only the recorded algorithm of each layer; the same tactics, compared layer by layer.
3. "min workspace": pin the candidate with the smallest workspace; print where it differs from TensorRT's pick.
Each engine's output is checked against numpy.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

INPUT_NAME = "x"
OUTPUT_NAME = "y"
SHAPE = (1, 4, 8, 8)
MAPS = 8
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 with TF32 cleared
PRINT_CANDIDATES = 4  # candidates printed for the first call of each layer


def make_weights():
    rng = np.random.default_rng(7)
    kernel = (rng.standard_normal((MAPS, SHAPE[1], 3, 3)) / 6).astype(np.float32)
    bias = rng.standard_normal(MAPS).astype(np.float32)
    return kernel, bias


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal(SHAPE).astype(np.float32)}


def reference(inputs):
    kernel, bias = make_weights()
    x = inputs[INPUT_NAME].astype(np.float64)
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((n, MAPS, h, w))
    for i in range(3):
        for j in range(3):
            conv += np.einsum("nchw,kc->nkhw", padded[:, :, i:i + h, j:j + w], kernel[:, :, i, j].astype(np.float64))
    relu = np.maximum(conv + bias.astype(np.float64)[None, :, None, None], 0)
    pooled = relu.reshape(n, MAPS, h // 2, 2, w // 2, 2).max(axis=(3, 5)).astype(np.float32)
    return {
        "y_keep_all": pooled,
        "y_replayed": pooled,
        "y_min_workspace": pooled,
        "replay_reproduced_tactics": np.array(True),  # known in advance
    }


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


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
        if self.mode == "replay" and context.name in self.recorded:
            # this call may be for a format combination other than the recorded one: then nothing matches and
            # TensorRT may use all of them (it still prefers the recorded one only if it is faster overall)
            return [i for i, key in enumerate(keys) if key == self.recorded[context.name]] or list(range(len(choices)))
        if self.mode == "min_workspace":  # ties broken by (implementation, tactic): independent of timing
            return [min(range(len(choices)), key=lambda i: (choices[i].workspace_size, keys[i][0], keys[i][1]))]
        return list(range(len(choices)))

    def report_algorithms(self, contexts, choices):
        """choices[i] is what TensorRT chose for contexts[i]; called once per optimization profile, after selection."""
        for context, algorithm in zip(contexts, choices):
            self.reported[context.name] = (algorithm_key(context, algorithm), describe(context, algorithm))


def build(builder, selector):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    config.clear_flag(trt.BuilderFlag.TF32)
    config.algorithm_selector = selector  # keep `selector` alive until the build has finished

    kernel, bias = make_weights()
    x = network.add_input(INPUT_NAME, trt.float32, SHAPE)
    conv = network.add_convolution_nd(x, MAPS, (3, 3), kernel, bias)
    conv.padding_nd = (1, 1)
    conv.name = "Conv"
    relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    relu.name = "ReLU"
    pool = network.add_pooling_nd(relu.get_output(0), trt.PoolingType.MAX, (2, 2))
    pool.stride_nd = (2, 2)
    pool.name = "MaxPool"
    pool.get_output(0).name = OUTPUT_NAME
    network.mark_output(pool.get_output(0))

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"building with the '{selector.mode}' selector failed")
    print(f"  {selector.calls} calls of select_algorithms; report_algorithms: what TensorRT chose")
    for name, (_, description) in selector.reported.items():
        print(f"    '{name}': {description}")
    return serialized


def run_engine(runtime, serialized, inputs):
    """Deserialize and run a static-shape engine once; return {output name: array}."""
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    host, device = {}, {}
    for name in names:
        dtype = trt.nptype(engine.get_tensor_dtype(name))
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            host[name] = np.ascontiguousarray(inputs[name], dtype=dtype)
            context.set_input_shape(name, host[name].shape)
        else:
            host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=dtype)
        device[name] = check_cuda(cudart.cudaMalloc(host[name].nbytes))
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


def check_array(label, actual, expected):
    same_shape = actual.shape == expected.shape
    max_error = float(np.max(np.abs(actual.astype(np.float64) - expected))) if same_shape else float("inf")
    passed = bool(same_shape and np.allclose(actual, expected, **TOLERANCE))
    print(f"check result: {passed}, max abs error = {max_error:.3e} ({label})")
    return passed


def tactics(selector):
    """{layer name: (implementation, tactic)} of what TensorRT reported."""
    return {name: key[:2] for name, (key, _) in selector.reported.items()}


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    runtime = trt.Runtime(logger)
    inputs = make_inputs()
    expected = reference(inputs)
    saved = {}
    passed = True

    print("=== 1. keep all: TensorRT chooses, report_algorithms records its choices")
    keep_all = MyAlgorithmSelector("keep_all")
    engine_1 = build(builder, keep_all)
    saved["y_keep_all"] = run_engine(runtime, engine_1, inputs)[OUTPUT_NAME]
    passed &= check_array("keep all vs numpy", saved["y_keep_all"], expected["y_keep_all"])

    print("=== 2. replay: only the recorded algorithm of each layer")
    recorded = {name: key for name, (key, _) in keep_all.reported.items()}
    replay = MyAlgorithmSelector("replay", recorded)
    engine_2 = build(builder, replay)
    saved["y_replayed"] = run_engine(runtime, engine_2, inputs)[OUTPUT_NAME]
    passed &= check_array("replayed vs numpy", saved["y_replayed"], expected["y_replayed"])
    same = tactics(replay) == tactics(keep_all)
    print(f"  same (implementation, tactic) for every layer as build 1: {same}")
    print(f"  same engine bytes as build 1: {bytes(engine_2) == bytes(engine_1)}")
    saved["replay_reproduced_tactics"] = np.array(same)
    print(f"check result: {same}, the replayed build chose the recorded tactics")
    passed &= same

    print("=== 3. min workspace: pinned to the candidate with the smallest workspace")
    min_workspace = MyAlgorithmSelector("min_workspace")
    engine_3 = build(builder, min_workspace)
    saved["y_min_workspace"] = run_engine(runtime, engine_3, inputs)[OUTPUT_NAME]
    passed &= check_array("min workspace vs numpy", saved["y_min_workspace"], expected["y_min_workspace"])
    chosen, fastest = tactics(min_workspace), tactics(keep_all)
    for name in sorted(set(chosen) | set(fastest)):
        if chosen.get(name) != fastest.get(name):
            print(f"  '{name}': TensorRT's pick {fastest.get(name)} -> pinned {chosen.get(name)}")
    print(f"  {sum(chosen.get(n) != fastest.get(n) for n in set(chosen) | set(fastest))} layer(s) differ from build 1")

    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **saved)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
