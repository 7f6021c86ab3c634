#!/usr/bin/env python3
"""PoolingNdLayer / Padding: padding_nd (the same at both ends) and pre_padding / post_padding (each end on its own).

Max pooling pads with -inf, so the padding never wins against the (partly negative) input; it only lets windows
start before the first element or end after the last one. Window (2, 3), stride (2, 2); cases: padding_nd = (1, 1);
pre_padding = (1, 0) with post_padding = (0, 1).
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
SHAPE = (1, 1, 3, 4)
WINDOW, STRIDE = (2, 3), (2, 2)
CASES = {"padding_nd_1x1": ((1, 1), (1, 1)), "pre_1x0_post_0x1": ((1, 0), (0, 1))}  # name: (pre, post)


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"inputT0": rng.integers(-9, 10, SHAPE).astype(np.float32)}


def pool(x, kind, window, stride, pre, post, out_size, exclude_padding=True, blend=0.0):
    """numpy pooling over the last len(window) dimensions, window by window.

    Window j of a dimension covers [j * stride - pre, j * stride - pre + window). MAX ignores padding (TensorRT pads
    with -inf); AVERAGE divides the sum of the real elements by their count (exclude_padding) or by the number of
    window cells inside the padded input; MAX_AVERAGE_BLEND = (1 - blend) * MAX + blend * AVERAGE.
    """
    k = len(window)
    size = x.shape[-k:]
    y = np.zeros(x.shape[:-k] + tuple(out_size), dtype=np.float64)
    for index in np.ndindex(*out_size):
        lo = [i * s - p for i, s, p in zip(index, stride, pre)]
        hi = [low + f for low, f in zip(lo, window)]
        region = x[(Ellipsis,) + tuple(slice(max(low, 0), min(high, n)) for low, high, n in zip(lo, hi, size))]
        axes = tuple(range(-k, 0))
        maximum = region.max(axis=axes)
        real = np.prod([min(high, n) - max(low, 0) for low, high, n in zip(lo, hi, size)])
        padded = np.prod([min(high, n + q) - max(low, -p) for low, high, n, p, q in zip(lo, hi, size, pre, post)])
        average = region.sum(axis=axes, dtype=np.float64) / (real if exclude_padding else padded)
        if kind == "MAX":
            y[(Ellipsis,) + index] = maximum
        elif kind == "AVERAGE":
            y[(Ellipsis,) + index] = average
        else:
            y[(Ellipsis,) + index] = (1 - blend) * maximum + blend * average
    return y.astype(np.float32)


def explicit_round_down(size, window, stride, pre, post):
    return [(n + p + q - f) // s + 1 for n, f, s, p, q in zip(size, window, stride, pre, post)]


def reference(inputs):
    x = inputs["inputT0"]
    result = {}
    for name, (pre, post) in CASES.items():
        out_size = explicit_round_down(x.shape[2:], WINDOW, STRIDE, pre, post)
        result[name] = pool(x, "MAX", WINDOW, STRIDE, pre, post, out_size)
    return result


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    for name, (pre, post) in CASES.items():
        layer = network.add_pooling_nd(x, trt.PoolingType.MAX, WINDOW)
        layer.stride_nd = STRIDE
        if pre == post:
            layer.padding_nd = pre  # symmetric
        else:
            layer.pre_padding = pre
            layer.post_padding = post
        print(f"{name}: pre_padding = {layer.pre_padding}, post_padding = {layer.post_padding}, "
              f"output shape = {layer.get_output(0).shape}")
        layer.get_output(0).name = name
        network.mark_output(layer.get_output(0))


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def run_engine(inputs):
    """Build the network, run it once, return {output name: numpy array}."""
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    add_layers(network, inputs)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    context = engine.create_execution_context()
    return execute(engine, context, inputs)


def execute(engine, context, inputs):
    """Copy the inputs in, run the engine once on a stream, copy the outputs back: {output name: array}."""
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
    output_names = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT]
    host, device = {}, {}
    for name in input_names:
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        context.set_input_shape(name, host[name].shape)  # harmless for static shapes
    for name in output_names:  # output shapes are known once every input shape is set
        host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=trt.nptype(engine.get_tensor_dtype(name)))
    for name in names:
        device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
        context.set_tensor_address(name, device[name])

    stream = check_cuda(cudart.cudaStreamCreate())
    for name in input_names:
        check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    for name in output_names:
        check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for name in names:
        check_cuda(cudart.cudaFree(device[name]))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return {name: host[name] for name in output_names}


def compare(outputs, expected):
    """Print every output with its check; integer and boolean outputs must match exactly."""
    passed = True
    for name, value in expected.items():
        got = outputs[name]
        print(f"{name} {got.shape}:\n{got}")
        if got.shape != value.shape:
            ok, error = False, float("inf")
        else:
            error = float(np.max(np.abs(got.astype(np.float64) - value), initial=0.0))
            if value.dtype.kind in "iub":
                ok = bool(np.array_equal(got, value))
            else:
                ok = bool(np.allclose(got, value, **TOLERANCE))
        print(f"check result: {ok}, max abs error = {error:.3e}")
        passed = passed and ok
    return passed


def main():
    np.set_printoptions(precision=3, linewidth=150, suppress=True)
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"{name} {value.shape}:\n{value}")
    outputs = run_engine(inputs)
    passed = compare(outputs, reference(inputs))
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
