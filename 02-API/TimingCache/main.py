#!/usr/bin/env python3
"""02-API/TimingCache: keep the builder's kernel timings in an ITimingCache, save it, load it, combine it, reset it.

While building, TensorRT times candidate kernels (tactics) for each layer. A timing cache keeps those timings, so a
later build of the same layers on the same GPU and TensorRT version skips the timing and picks the same tactics.
Network A: x [1,8,16,16] -> Conv 3x3 (16 maps) + ReLU -> Conv 3x3 (16 maps) + ReLU -> y. Network B: other shapes.
1. config.create_timing_cache(b"") (a new, empty cache) + config.set_timing_cache(cache, ignore_mismatch=False);
   build A; cache.serialize() -> IHostMemory, written to model.cache.
2. Build A without a timing cache of ours (TensorRT then uses a private one that is thrown away after the build).
3. config.create_timing_cache(bytes of model.cache): build A again, much faster, with the same tactics (the
   engine bytes were not identical on an H100 with 8.6.0: printed, not checked).
4. cache.combine(other_cache, ignore_mismatch=False): add network B's timings to it. cache.reset(): empty it.
Build times are printed, not checked; the engines' outputs are checked against numpy.
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

CACHE_FILE = "model.cache"
INPUT_NAME = "x"
OUTPUT_NAME = "y"
SHAPE = (1, 8, 16, 16)
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 with TF32 cleared
NETWORK_A = (16, 16)  # output maps of the two convolutions
NETWORK_B = (32, 8)


def make_weights(maps):
    """Kernels [k, c, 3, 3] and biases [k] for a chain of 3x3 convolutions."""
    rng = np.random.default_rng(7)
    weights, channels = [], SHAPE[1]
    for k in maps:
        weights.append(((rng.standard_normal((k, channels, 3, 3)) / np.sqrt(channels * 9)).astype(np.float32),
                        rng.standard_normal(k).astype(np.float32)))
        channels = k
    return weights


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal(SHAPE).astype(np.float32)}


def forward(x, weights):
    """numpy (float64) version of the network: 3x3 convolutions with padding 1, each followed by ReLU."""
    y = x.astype(np.float64)
    for kernel, bias in weights:
        n, c, h, w = y.shape
        padded = np.pad(y, ((0, 0), (0, 0), (1, 1), (1, 1)))
        conv = np.zeros((n, kernel.shape[0], h, w))
        for i in range(3):
            for j in range(3):
                conv += np.einsum("nchw,kc->nkhw", padded[:, :, i:i + h, j:j + w], kernel[:, :, i, j].astype(np.float64))
        y = np.maximum(conv + bias.astype(np.float64)[None, :, None, None], 0)
    return y.astype(np.float32)


def reference(inputs):
    y = forward(inputs[INPUT_NAME], make_weights(NETWORK_A))
    return {
        "y_without_cache": y,
        "y_with_loaded_cache": y,
        # known in advance
        "combine_succeeded": np.array(True),
        "combined_cache_is_larger": np.array(True),
        "reset_succeeded": np.array(True),
        "reset_cache_is_smaller": np.array(True),
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
    """Keeps warnings and errors, and the lines of any severity that mention the timing cache."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(trt.ILogger.Severity.WARNING) or "timing cache" in msg.lower():
            self.messages.append((severity, msg))

    def take(self):
        messages, self.messages = self.messages, []
        return messages


def print_messages(messages, indent="    "):
    for severity, msg in messages:
        print(f"{indent}[TRT] {severity.name}: {msg}")


def build(builder, maps, cache=None):
    """Build the chain of convolutions; attach `cache` when given. Return (serialized engine, seconds)."""
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    config.clear_flag(trt.BuilderFlag.TF32)
    if cache is not None:
        # ignore_mismatch=False: refuse a cache made on another kind of GPU (True would accept it)
        attached = config.set_timing_cache(cache, False)
        print(f"    config.set_timing_cache(cache, ignore_mismatch=False) = {attached}")
        print(f"    config.get_timing_cache() returns it: {config.get_timing_cache() is not None}")

    weights = make_weights(maps)
    tensor = network.add_input(INPUT_NAME, trt.float32, SHAPE)
    for index, (kernel, bias) in enumerate(weights):
        conv = network.add_convolution_nd(tensor, kernel.shape[0], (3, 3), kernel, bias)
        conv.padding_nd = (1, 1)
        conv.name = f"Conv{index}"
        relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
        relu.name = f"ReLU{index}"
        tensor = relu.get_output(0)
    tensor.name = OUTPUT_NAME
    network.mark_output(tensor)

    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if serialized is None:
        raise RuntimeError("building the engine failed")
    return serialized, seconds  # the cache must stay alive until here: it is used during the build


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


def check_fact(label, actual, expected):
    passed = bool(actual) == bool(expected)
    print(f"check result: {passed}, {label}: {bool(actual)} (expected {bool(expected)})")
    return passed


def main():
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    runtime = trt.Runtime(logger)
    inputs = make_inputs()
    expected = reference(inputs)
    saved = {}
    passed = True
    # create_timing_cache() belongs to IBuilderConfig, but the cache is not tied to that config: any config
    # (of any builder in this process) can use it
    factory = builder.create_builder_config()

    print("=== 1. A new, empty timing cache, filled by a build and saved to a file")
    cache = factory.create_timing_cache(b"")
    print(f"    empty cache: {cache.serialize().nbytes} bytes serialized")
    engine_1, seconds = build(builder, NETWORK_A, cache)
    print(f"    build time {seconds * 1000:.1f} ms (includes the first build's one-off start-up)")
    print_messages(logger.take())
    serialized_cache = cache.serialize()  # an IHostMemory
    with open(CACHE_FILE, "wb") as f:
        f.write(serialized_cache)
    print(f"    wrote {CACHE_FILE}: {serialized_cache.nbytes} bytes")

    print("=== 2. No timing cache of ours")
    engine_2, seconds = build(builder, NETWORK_A)
    print(f"    build time {seconds * 1000:.1f} ms")
    print_messages(logger.take())
    saved["y_without_cache"] = run_engine(runtime, engine_2, inputs)[OUTPUT_NAME]
    passed &= check_array("engine built without a timing cache vs numpy", saved["y_without_cache"],
                          expected["y_without_cache"])

    print(f"=== 3. The cache loaded from {CACHE_FILE}")
    with open(CACHE_FILE, "rb") as f:
        loaded = factory.create_timing_cache(f.read())
    engine_3, seconds = build(builder, NETWORK_A, loaded)
    print(f"    build time {seconds * 1000:.1f} ms (no kernel is timed again)")
    print_messages(logger.take())
    print(f"    same engine bytes as build 1: {bytes(engine_3) == bytes(engine_1)}")
    saved["y_with_loaded_cache"] = run_engine(runtime, engine_3, inputs)[OUTPUT_NAME]
    passed &= check_array("engine built with the loaded timing cache vs numpy", saved["y_with_loaded_cache"],
                          expected["y_with_loaded_cache"])

    print("=== 4. combine() and reset()")
    other = factory.create_timing_cache(b"")
    build(builder, NETWORK_B, other)
    logger.take()
    size_a, size_b = loaded.serialize().nbytes, other.serialize().nbytes
    combined = loaded.combine(other, False)  # ignore_mismatch=False: only caches from the same GPU kind
    size_combined = loaded.serialize().nbytes
    print(f"    cache of network A: {size_a} bytes, cache of network B: {size_b} bytes")
    print(f"    loaded.combine(other, ignore_mismatch=False) = {combined}; the combined cache: {size_combined} bytes")
    saved["combine_succeeded"] = np.array(combined)
    saved["combined_cache_is_larger"] = np.array(size_combined > size_a)
    passed &= check_fact("combine succeeded", combined, True)
    passed &= check_fact("the combined cache is larger than network A's", size_combined > size_a, True)
    was_reset = loaded.reset()
    size_reset = loaded.serialize().nbytes
    print(f"    loaded.reset() = {was_reset}; the cache is now {size_reset} bytes (no entries)")
    print_messages(logger.take())
    saved["reset_succeeded"] = np.array(was_reset)
    saved["reset_cache_is_smaller"] = np.array(size_reset < size_combined)
    passed &= check_fact("reset succeeded", was_reset, True)
    passed &= check_fact("the reset cache is smaller", size_reset < size_combined, True)

    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **saved)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
