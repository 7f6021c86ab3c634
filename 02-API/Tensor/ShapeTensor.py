#!/usr/bin/env python3
"""02-API/Tensor / ShapeTensor: which tensors are shape tensors and which are execution tensors.

Network (dynamic input [-1,-1], e.g. [3,5] at run time):
    inputT0 [a,b] float32 --------------------------------------------> Shuffle (reshape) --> outputT0 [b,a]
        \\-> Shape layer: [a,b] int32 -> Slice (stride -1): [b,a] int32 --^ (second input: the new shape)

The Shape and Slice outputs only feed the reshape dimensions of the Shuffle layer: they are shape tensors
(is_shape_tensor = True), computed while TensorRT works out the shapes, and not execution tensors
(is_execution_tensor = False). inputT0 and outputT0 carry data: execution tensors.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

# A reshape only moves data: exact in FP32.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    return {"inputT0": np.arange(15, dtype=np.float32).reshape(3, 5)}


def reference(inputs):
    """numpy: reshape [a,b] to [b,a] (a reshape, not a transpose: the data keep their row-major order)."""
    a, b = inputs["inputT0"].shape
    return {"outputT0": inputs["inputT0"].reshape(b, a).astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(logger):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    profile = builder.create_optimization_profile()
    config = builder.create_builder_config()

    x = network.add_input("inputT0", trt.float32, (-1, -1))
    profile.set_shape("inputT0", (1, 1), (3, 5), (8, 8))
    config.add_optimization_profile(profile)

    shape_layer = network.add_shape(x)  # [a, b] as an int32 tensor of shape [2]
    shape_layer.name = "Shape"
    shape_layer.get_output(0).name = "shapeAB"
    reverse = network.add_slice(shape_layer.get_output(0), (1,), (2,), (-1,))  # elements 1, 0: [b, a]
    reverse.name = "Reverse"
    reverse.get_output(0).name = "shapeBA"
    shuffle = network.add_shuffle(x)
    shuffle.name = "Reshape"
    shuffle.set_input(1, reverse.get_output(0))  # the reshape dimensions come from a tensor
    y = shuffle.get_output(0)
    y.name = "outputT0"
    network.mark_output(y)

    # Ask only now: is_shape_tensor / is_execution_tensor are reliable once the network is complete.
    print(f"{'tensor':10s} {'shape':10s} {'dtype':16s} is_shape_tensor is_execution_tensor")
    for tensor in (x, shape_layer.get_output(0), reverse.get_output(0), y):
        print(f"{tensor.name:10s} {str(tensor.shape):10s} {str(tensor.dtype):16s} {str(tensor.is_shape_tensor):15s} "
              f"{tensor.is_execution_tensor}")
    kinds = {t.name: (t.is_shape_tensor, t.is_execution_tensor) for t in (x, reverse.get_output(0), y)}

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine, kinds


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    engine, kinds = build_engine(logger)
    expected_kinds = {"inputT0": (False, True), "shapeBA": (True, False), "outputT0": (False, True)}
    kinds_ok = kinds == expected_kinds
    print(f"check result: {kinds_ok}, (is_shape_tensor, is_execution_tensor) = {kinds}")
    for name in ("inputT0", "outputT0"):
        print(f"engine: {name}: is_shape_inference_io = {engine.is_shape_inference_io(name)}, "
              f"location = {engine.get_tensor_location(name)}, shape = {engine.get_tensor_shape(name)}")

    inputs = make_inputs()
    context = engine.create_execution_context()
    print(f"context.get_tensor_shape('outputT0') before set_input_shape = {context.get_tensor_shape('outputT0')}")
    context.set_input_shape("inputT0", inputs["inputT0"].shape)
    print(f"context.get_tensor_shape('outputT0') after set_input_shape({inputs['inputT0'].shape}) = "
          f"{context.get_tensor_shape('outputT0')}")

    x_host = np.ascontiguousarray(inputs["inputT0"])
    y_host = np.empty(tuple(context.get_tensor_shape("outputT0")), dtype=np.float32)
    x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
    y_device = check_cuda(cudart.cudaMalloc(y_host.nbytes))
    context.set_tensor_address("inputT0", x_device)
    context.set_tensor_address("outputT0", y_device)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(y_host.ctypes.data, y_device, y_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    print(f"inputT0 {x_host.shape}:\n{x_host}")
    print(f"outputT0 {y_host.shape}:\n{y_host}")

    expected = reference(inputs)["outputT0"]
    passed = y_host.shape == expected.shape and bool(np.allclose(y_host, expected, **TOLERANCE))
    max_error = float(np.max(np.abs(y_host - expected))) if y_host.shape == expected.shape else float("inf")
    print(f"check result: {passed}, max abs error = {max_error:.3e}")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", outputT0=y_host)

    for pointer in (x_device, y_device):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed and kinds_ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
