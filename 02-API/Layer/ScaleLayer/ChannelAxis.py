#!/usr/bin/env python3
"""ScaleLayer / ChannelAxis: add_scale_nd(..., channel_axis) picks which dimension CHANNEL mode scales along.

The dimensions after channel_axis are the spatial ones, and TensorRT 8.6 accepts only 2 or 3 of them ("Only 2D or 3D
scale is supported"). With a 5D input [1, 2, 3, 2, 2]: channel_axis = 1 takes 2 coefficients (3 spatial dimensions
follow), channel_axis = 2 takes 3 coefficients (2 spatial dimensions follow; the dimensions before the axis act as
batch dimensions). On a 4D input [N, C, H, W], channel_axis = 2 or 3 leaves fewer than 2 spatial dimensions and the
build fails ("Scale doesn't support less than 2D spatial (2D/3D only)"); add_scale uses channel_axis = 1 in an
explicit-batch network."""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
SHAPE = (1, 2, 3, 2, 2)
SCALE_AXIS1 = np.array([1.0, 10.0], dtype=np.float32)  # SHAPE[1] values
SCALE_AXIS2 = np.array([1.0, 2.0, 3.0], dtype=np.float32)  # SHAPE[2] values


def make_inputs():
    return {"inputT0": np.ones(SHAPE, dtype=np.float32)}


def reference(inputs):
    x = inputs["inputT0"]
    return {"axis1/outputT0": x * SCALE_AXIS1.reshape(1, 2, 1, 1, 1),
            "axis2/outputT0": x * SCALE_AXIS2.reshape(1, 1, 3, 1, 1)}


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    axis1 = network.add_scale_nd(x, trt.ScaleMode.CHANNEL, scale=trt.Weights(SCALE_AXIS1), channel_axis=1)
    axis2 = network.add_scale_nd(x, trt.ScaleMode.CHANNEL, scale=trt.Weights(SCALE_AXIS2), channel_axis=2)
    for name, layer in (("axis1", axis1), ("axis2", axis2)):
        spatial = len(SHAPE) - 1 - layer.channel_axis
        print(f"{name}: channel_axis = {layer.channel_axis}, {SHAPE[layer.channel_axis]} coefficients, "
              f"{spatial} spatial dimensions after it")
        layer.get_output(0).name = name + "/outputT0"
        network.mark_output(layer.get_output(0))


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def execute(engine, inputs):
    """Run the engine once on `inputs`; return {output name: numpy array}."""
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device = {}, {}

    def bind(name):  # shape tensors live in host memory, everything else on the GPU
        if engine.get_tensor_location(name) == trt.TensorLocation.HOST:
            context.set_tensor_address(name, host[name].ctypes.data)
        else:
            device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
            context.set_tensor_address(name, device[name])

    for name in input_names:  # inputs first: the output shapes depend on their shapes (and shape-tensor values)
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        context.set_input_shape(name, host[name].shape)
        bind(name)
    for name in output_names:
        shape = tuple(context.get_tensor_shape(name))
        host[name] = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        bind(name)

    stream = check_cuda(cudart.cudaStreamCreate())
    for name in input_names:
        if name in device and host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    for name in output_names:
        if name in device and host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in device.values():
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return {name: host[name] for name in output_names}


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
    return execute(engine, inputs)


def compare(name, got, want):
    """Print one output and its check; floats within TOLERANCE, integers and booleans exactly."""
    print(f"{name} {got.shape} {got.dtype}:\n{got}")
    if got.shape != want.shape:
        print(f"check result: False, shape {got.shape} != expected {want.shape}")
        return False
    if want.dtype.kind in "biu":
        ok = bool(np.array_equal(got, want))
        error = float(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64)))) if want.size else 0.0
    else:
        ok = bool(np.allclose(got, want, **TOLERANCE))
        error = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
    print(f"check result: {ok}, max abs error = {error:.3e}")
    return ok


def main():
    np.set_printoptions(precision=4, linewidth=120, suppress=True)
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"{name} {value.shape} {value.dtype}:\n{value}")
    outputs = run_engine(inputs)
    expected = reference(inputs)
    passed = True
    for name, want in expected.items():
        passed = compare(name, outputs[name], want) and passed
    stem = os.path.splitext(os.path.basename(__file__))[0]
    np.savez(stem + ".output.npz", **{name: outputs[name] for name in expected})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
