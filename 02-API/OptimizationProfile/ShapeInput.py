#!/usr/bin/env python3
"""02-API/OptimizationProfile / ShapeInput: a shape-tensor input and IOptimizationProfile.set_shape_input.

Network: inputT0 [3,4,5] float32 (data) and inputT1 [2] int32 (a *shape tensor*: its values, not its shape,
matter) -> Shuffle(inputT0) with set_input(1, inputT1): outputT0 = inputT0 reshaped to the two values of inputT1.
For a shape-tensor input the profile gives the range of its VALUES with set_shape_input (min [1,1], opt [6,10],
max [60,60]); set_shape would be for its dimensions. At run time TensorRT reads the values from HOST memory:
set_tensor_address gets a numpy array's address (engine.get_tensor_location says HOST).
The engine is run twice, with the values [6,10] and [12,5].
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

NEW_SHAPES = ((6, 10), (12, 5))
# A reshape only moves data: exact in FP32.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    return {"inputT0": np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5),
            "inputT1": np.array(NEW_SHAPES[0], dtype=np.int32)}


def reference(inputs):
    """numpy: the data reshaped to [6,10] (the values in inputT1) and, in the second run, to [12,5]."""
    x = inputs["inputT0"]
    return {f"outputT0_{a}x{b}": x.reshape(a, b).astype(np.float32) for a, b in NEW_SHAPES}


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
    config = builder.create_builder_config()

    x = network.add_input("inputT0", trt.float32, (3, 4, 5))
    new_shape = network.add_input("inputT1", trt.int32, (2,))  # must be int32, rank 0 or 1, static shape
    shuffle = network.add_shuffle(x)
    shuffle.set_input(1, new_shape)  # input 1 of a Shuffle layer: the reshape dimensions
    shuffle.get_output(0).name = "outputT0"
    network.mark_output(shuffle.get_output(0))
    print(f"network: inputT1.is_shape_tensor = {new_shape.is_shape_tensor}, "
          f"is_execution_tensor = {new_shape.is_execution_tensor}, ITensor.location = {new_shape.location}; "
          f"outputT0.shape = {shuffle.get_output(0).shape}")

    profile = builder.create_optimization_profile()
    profile.set_shape_input("inputT1", (1, 1), (6, 10), (60, 60))  # min / opt / max of the VALUES
    print(f"profile.get_shape_input('inputT1') = {profile.get_shape_input('inputT1')}")
    print(f"profile.get_shape('inputT1') = {profile.get_shape('inputT1')} (empty: no set_shape for it)")
    config.add_optimization_profile(profile)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    engine = build_engine(logger)
    for name in ("inputT0", "inputT1", "outputT0"):
        print(f"engine: {name:8s} is_shape_inference_io = {engine.is_shape_inference_io(name)!s:5s} "
              f"location = {engine.get_tensor_location(name)}, shape = {engine.get_tensor_shape(name)}")
    print(f"engine.get_tensor_profile_shape('inputT1', 0) = {engine.get_tensor_profile_shape('inputT1', 0)} "
          "(the tensor's dimensions)")
    # The profile's VALUES for a shape input: only the deprecated binding-style call has them in TensorRT 8.6.
    print(f"engine.get_profile_shape_input(0, 'inputT1') = {engine.get_profile_shape_input(0, 'inputT1')} "
          "(deprecated)")

    inputs = make_inputs()
    expected = reference(inputs)
    context = engine.create_execution_context()
    x_host = np.ascontiguousarray(inputs["inputT0"])
    x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    context.set_input_shape("inputT0", x_host.shape)
    context.set_tensor_address("inputT0", x_device)

    outputs, passed, keep_alive = {}, True, []
    for values in NEW_SHAPES:
        shape_host = np.array(values, dtype=np.int32)  # host memory, kept alive until the run has finished
        keep_alive.append(shape_host)
        context.set_input_shape("inputT1", shape_host.shape)  # its dimensions: [2]
        context.set_tensor_address("inputT1", shape_host.ctypes.data)  # its values: read from the host
        y_shape = tuple(context.get_tensor_shape("outputT0"))
        print(f"inputT1 = {values}: context.get_tensor_shape('outputT0') = {y_shape}")
        y_host = np.empty(y_shape, dtype=np.float32)
        y_device = check_cuda(cudart.cudaMalloc(y_host.nbytes))
        context.set_tensor_address("outputT0", y_device)
        if not context.execute_async_v3(int(stream)):
            raise RuntimeError("execute_async_v3 failed")
        check_cuda(cudart.cudaMemcpyAsync(y_host.ctypes.data, y_device, y_host.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
        check_cuda(cudart.cudaStreamSynchronize(stream))
        check_cuda(cudart.cudaFree(y_device))
        key = f"outputT0_{values[0]}x{values[1]}"
        outputs[key] = y_host
        print(f"{key}:\n{y_host}")
        ok = y_host.shape == expected[key].shape and bool(np.allclose(y_host, expected[key], **TOLERANCE))
        error = float(np.max(np.abs(y_host - expected[key]))) if y_host.shape == expected[key].shape else float("inf")
        print(f"check result: {ok}, {key}: max abs error = {error:.3e}")
        passed = passed and ok

    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    check_cuda(cudart.cudaFree(x_device))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
