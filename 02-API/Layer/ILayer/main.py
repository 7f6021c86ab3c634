#!/usr/bin/env python3
"""02-API/Layer/ILayer: the members every layer has (ILayer), printed for each layer of a small network.

Network: inputT0 [3,4,5] -> ReLU -> ElementWise PROD with a constant -> outputT0
The PROD layer is created with the constant One (1.0); ILayer.set_input(1, ...) then replaces it by the constant
Two (2.0), so the engine computes ReLU(x) * 2, which the check confirms.

Members shown: name, type, num_inputs, num_outputs, get_input, get_output, set_input, precision,
precision_is_set, get_output_type, output_type_is_set, metadata (also found again in the engine inspector's JSON).
Precision and output types are demonstrated with their effect in Precision.py.
"""
import json
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

SHAPE = (3, 4, 5)
METADATA = "ReLU of the input; from model.py line 12"
# FP32 engine against numpy
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    return {"inputT0": (np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) - 30) / 4}


def reference(inputs):
    """numpy: ReLU(x) * 2 (the factor 2 comes from the constant set with set_input)."""
    return {"outputT0": (np.maximum(inputs["inputT0"], 0) * 2).astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def print_layer(layer):
    print(f"  name = {layer.name!r}, type = {layer.type}, num_inputs = {layer.num_inputs}, "
          f"num_outputs = {layer.num_outputs}")
    for i in range(layer.num_inputs):
        tensor = layer.get_input(i)  # None for an optional input that is not set
        print(f"    get_input({i})  = {None if tensor is None else tensor.name}")
    for i in range(layer.num_outputs):
        tensor = layer.get_output(i)
        print(f"    get_output({i}) = {tensor.name}, get_output_type({i}) = {layer.get_output_type(i)}, "
              f"output_type_is_set({i}) = {layer.output_type_is_set(i)}")
    print(f"    precision = {layer.precision}, precision_is_set = {layer.precision_is_set}, "
          f"metadata = {layer.metadata!r}")


def build_engine(logger):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector then shows layer metadata

    x = network.add_input("inputT0", trt.float32, SHAPE)
    relu = network.add_activation(x, trt.ActivationType.RELU)
    # Careful: in a subclass a member may hide ILayer's: IActivationLayer.type is the *activation* type.
    print(f"relu.type (IActivationLayer.type) = {relu.type};  network.get_layer(0).type (ILayer.type) = "
          f"{network.get_layer(0).type}")
    relu.name = "ReLU"
    relu.metadata = METADATA  # free text kept in the engine, shown by the inspector with DETAILED verbosity
    one = network.add_constant((1, 1, 1), np.array([1], dtype=np.float32))
    one.name = "One"
    two = network.add_constant((1, 1, 1), np.array([2], dtype=np.float32))
    two.name = "Two"
    prod = network.add_elementwise(relu.get_output(0), one.get_output(0), trt.ElementWiseOperation.PROD)
    prod.name = "Scale"
    prod.get_output(0).name = "outputT0"
    network.mark_output(prod.get_output(0))

    print(f"before set_input: Scale.get_input(1) = {prod.get_input(1).name}")
    prod.set_input(1, two.get_output(0))  # same index, another tensor: the layer now multiplies by 2
    print(f"after  set_input: Scale.get_input(1) = {prod.get_input(1).name}")

    print(f"the network has {network.num_layers} layers (ILayer view from network.get_layer):")
    for i in range(network.num_layers):
        print_layer(network.get_layer(i))

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

    inspector = engine.create_engine_inspector()
    information = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    print("engine inspector (JSON), layers after TensorRT's optimization:")
    # strict=False: TensorRT 8.6 writes some strings of this JSON with raw control characters in them (it failed on
    # the GPU with "Invalid control character" in the strict default parser): the metadata of layers that were fused
    # into one is joined with a separator character, and text may contain newlines. Standard JSON requires such
    # characters to be escaped; strict=False accepts them inside strings.
    for layer in json.loads(information, strict=False).get("Layers", []):
        if isinstance(layer, dict):
            print(f"  {layer.get('Name')}: LayerType = {layer.get('LayerType')}, Metadata = {layer.get('Metadata')!r}")
        else:  # with a lower profiling verbosity the list holds layer names only
            print(f"  {layer}")
    print(f"the metadata string appears in the inspector's JSON: {METADATA in information}")

    inputs = make_inputs()
    context = engine.create_execution_context()
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
    print(f"outputT0 {y_host.shape}:\n{y_host}")

    expected = reference(inputs)["outputT0"]
    max_error = float(np.max(np.abs(y_host - expected)))
    passed = bool(np.allclose(y_host, expected, **TOLERANCE))
    print(f"check result: {passed}, max abs error = {max_error:.3e} (ReLU(x) * 2: set_input took effect)")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", outputT0=y_host)

    for pointer in (x_device, y_device):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
