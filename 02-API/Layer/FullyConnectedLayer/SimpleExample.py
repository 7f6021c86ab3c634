#!/usr/bin/env python3
"""FullyConnectedLayer / SimpleExample: y = x.reshape(N, -1) @ W.T + b, output [N, K, 1, 1].

add_fully_connected is deprecated (since TensorRT 8.4, still present in 8.6, removed in 10); MatrixMultiply +
ElementWise replace it (see MatrixMultiplyReplacement.py). Python prints a DeprecationWarning when it is called."""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
SHAPE = (2, 3, 2, 2)  # [N, C, H, W]: the last three dimensions are flattened into V = C*H*W = 12
NUM_OUTPUTS = 3  # K


def make_weights():
    rng = np.random.default_rng(42)
    kernel = rng.standard_normal((NUM_OUTPUTS, 12)).astype(np.float32)  # [K, V], row-major
    bias = np.arange(NUM_OUTPUTS, dtype=np.float32)  # [K]
    return kernel, bias


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"inputT0": rng.standard_normal(SHAPE).astype(np.float32)}


def reference(inputs):
    """numpy: flatten the last three dimensions, multiply by the transposed kernel, add the bias."""
    x = inputs["inputT0"].astype(np.float64)
    kernel, bias = make_weights()
    y = x.reshape(SHAPE[0], -1) @ kernel.T.astype(np.float64) + bias
    return {"outputT0": y.reshape(SHAPE[0], NUM_OUTPUTS, 1, 1).astype(np.float32)}


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    kernel, bias = make_weights()
    layer = network.add_fully_connected(x, NUM_OUTPUTS, kernel, bias)  # deprecated API
    print(f"num_output_channels = {layer.num_output_channels}, kernel {layer.kernel.shape}, bias {layer.bias.shape}")
    layer.get_output(0).name = "outputT0"
    network.mark_output(layer.get_output(0))


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def check(name, actual, expected):
    """Compare one output with its reference: floats within TOLERANCE, integers and booleans exactly."""
    if actual.shape != expected.shape:
        print(f"check result: False, {name}: shape {actual.shape} != expected {expected.shape}")
        return False
    if expected.dtype.kind in "fc":
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        error = float(np.max(np.abs(a - e))) if e.size else 0.0
        ok = bool(np.allclose(a, e, **TOLERANCE))
        print(f"check result: {ok}, {name}: max abs error = {error:.3e}")
    else:
        differ = int(np.sum(actual != expected))
        ok = differ == 0
        print(f"check result: {ok}, {name}: {differ} of {expected.size} elements differ (exact comparison)")
    return ok


def run_engine(inputs):
    """Build the network, run it once, return {output name: numpy array}."""
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 tolerance: no TF32 in the matrix product
    add_layers(network, inputs)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device = {}, {}
    for name in input_names:
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        context.set_input_shape(name, host[name].shape)  # harmless for static shapes
    for name in output_names:
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
    check_cuda(cudart.cudaStreamDestroy(stream))
    for name in names:
        check_cuda(cudart.cudaFree(device[name]))
    return {name: host[name] for name in output_names}


def main():
    np.set_printoptions(precision=3, linewidth=120, suppress=True)
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"{name} {value.shape} {value.dtype}:\n{value}")
    outputs = run_engine(inputs)
    expected = reference(inputs)
    passed = True
    for name, value in expected.items():
        print(f"{name} {outputs[name].shape} {outputs[name].dtype}:\n{outputs[name]}")
        passed = check(name, outputs[name], value) and passed
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **{k: outputs[k] for k in expected})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
