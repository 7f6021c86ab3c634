#!/usr/bin/env python3
"""OneHotLayer / Axis: where the new one-hot dimension is inserted.

For indices of shape [2, 3] and depth 4: axis 0 gives [4, 2, 3], axis 1 gives [2, 4, 3], axis -1 (= 2) gives [2, 3, 4].
Valid axes: -rank(indices) - 1 <= axis <= rank(indices). The axis can also be changed after construction (layer.axis).
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
DEPTH = 4
AXES = {"axis_0": 0, "axis_1": 1, "axis_minus1": -1}


def make_inputs():
    return {"inputT0": np.array([[0, 3, 1], [2, 2, 0]], dtype=np.int32)}


def reference(inputs):
    indices = inputs["inputT0"]
    last = (np.arange(DEPTH) == indices[..., None]).astype(np.float32)  # [2, 3, DEPTH]
    return {"axis_0": np.moveaxis(last, -1, 0), "axis_1": np.moveaxis(last, -1, 1), "axis_minus1": last}


def add_layers(network, inputs):
    indices = network.add_input("inputT0", trt.int32, inputs["inputT0"].shape)
    values = network.add_constant((2,), np.array([0, 1], dtype=np.float32)).get_output(0)
    depth = network.add_constant((), np.array([DEPTH], dtype=np.int32)).get_output(0)
    for name, axis in AXES.items():
        layer = network.add_one_hot(indices, values, depth, -1)
        layer.axis = axis  # change the axis after construction
        print(f"{name}: axis = {layer.axis}, output shape = {layer.get_output(0).shape}")
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
