#!/usr/bin/env python3
"""02-API/Network: the members of trt.INetworkDefinition in TensorRT 8.6.

name, num_inputs / num_outputs / num_layers, get_input / get_output / get_layer, add_input, remove_tensor,
mark_output / unmark_output, mark_output_for_shapes / unmark_output_for_shapes, has_implicit_batch_dimension,
has_explicit_precision (deprecated), builder, error_recorder. The counts are printed after each step, the final
network is built and both of its outputs are checked against numpy.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

INPUT_NAME = "inputT0"
SHAPE = (2, 3, 4, 5)
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal(SHAPE).astype(np.float32)}


def reference(inputs):
    relu = np.maximum(inputs[INPUT_NAME], 0).astype(np.float32)
    return {
        "reluT": relu,                       # a middle tensor marked as a second output
        "outputT0": (relu * 2).astype(np.float32),
        # counts of the final network and engine (known from the construction below)
        "num_inputs": np.array(1, dtype=np.int32),
        "num_outputs": np.array(2, dtype=np.int32),
        "num_layers": np.array(5, dtype=np.int32),
        "num_io_tensors": np.array(3, dtype=np.int32),
    }


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def counts(network, step):
    print(f"{step:55s} num_inputs={network.num_inputs} num_outputs={network.num_outputs} "
          f"num_layers={network.num_layers}")


def build_network(builder):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    print(f"default network.name = {network.name!r}")
    network.name = "NetworkDemo"
    print(f"after network.name = 'NetworkDemo': {network.name!r}")
    print(f"network.has_implicit_batch_dimension = {network.has_implicit_batch_dimension}")
    print(f"network.has_explicit_precision = {network.has_explicit_precision} (deprecated since 8.0)")
    print(f"network.builder = {network.builder} (the builder that created it)")
    print(f"network.error_recorder = {network.error_recorder} (see 02-API/ErrorRecorder)")
    print("network.flags / get_flag: not in TensorRT 8.6 (the creation flags are only visible through "
          "has_implicit_batch_dimension)")
    counts(network, "empty network:")

    x = network.add_input(INPUT_NAME, trt.float32, SHAPE)
    unused = network.add_input("unusedT1", trt.float32, (1,))
    counts(network, "after add_input x 2:")
    network.remove_tensor(unused)  # only tensors that no layer uses may be removed
    counts(network, "after remove_tensor(unusedT1):")

    relu = network.add_activation(x, trt.ActivationType.RELU)
    relu.name = "ReLU"
    relu.get_output(0).name = "reluT"
    two_value = np.array([2], dtype=np.float32)  # TensorRT reads weights at build time: keep the array alive
    two = network.add_constant((1, 1, 1, 1), two_value)
    two.name = "Two"
    times_two = network.add_elementwise(relu.get_output(0), two.get_output(0), trt.ElementWiseOperation.PROD)
    times_two.name = "TimesTwo"
    times_two.get_output(0).name = "outputT0"
    counts(network, "after 3 layers (ReLU, Two, TimesTwo):")

    network.mark_output(times_two.get_output(0))
    counts(network, "after mark_output(outputT0):")
    network.mark_output(relu.get_output(0))  # any tensor can be an output, also one used by later layers
    counts(network, "after mark_output(reluT):")

    absolute = network.add_unary(x, trt.UnaryOperation.ABS)
    absolute.name = "Abs"
    absolute.get_output(0).name = "absT"
    network.mark_output(absolute.get_output(0))
    counts(network, "after add_unary(ABS) + mark_output(absT):")
    network.unmark_output(absolute.get_output(0))  # the Abs layer stays, unused; the builder drops it
    counts(network, "after unmark_output(absT):")

    shape = network.add_shape(x)  # an INT32 tensor [4] holding x's shape
    shape.name = "Shape"
    network.mark_output_for_shapes(shape.get_output(0))  # a shape-tensor output (see 02-API/Tensor)
    counts(network, "after add_shape + mark_output_for_shapes:")
    network.unmark_output_for_shapes(shape.get_output(0))
    counts(network, "after unmark_output_for_shapes:")

    print("\nnetwork.get_input(i):")
    for i in range(network.num_inputs):
        t = network.get_input(i)
        print(f"  {i}: {t.name} {tuple(t.shape)} {t.dtype.name}")
    print("network.get_output(i):")
    for i in range(network.num_outputs):
        t = network.get_output(i)
        print(f"  {i}: {t.name} {tuple(t.shape)} {t.dtype.name}")
    print("network.get_layer(i):")
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        print(f"  {i}: {layer.name} {layer.type.name} in={layer.num_inputs} out={layer.num_outputs}")
    return network, two_value


def run_engine(engine, inputs):
    """Run an engine once: inputs {name: array} -> outputs {name: array}."""
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            context.set_input_shape(name, inputs[name].shape)
    host, device = {}, {}
    for name in names:
        dtype = trt.nptype(engine.get_tensor_dtype(name))
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            host[name] = np.ascontiguousarray(inputs[name], dtype=dtype)
        else:
            host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=dtype)
        device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
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


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network, weights = build_network(builder)
    config = builder.create_builder_config()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    print(f"\nengine.num_io_tensors = {engine.num_io_tensors}: "
          f"{[engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]}")

    inputs = make_inputs()
    outputs = run_engine(engine, inputs)
    outputs["num_inputs"] = np.array(network.num_inputs, dtype=np.int32)
    outputs["num_outputs"] = np.array(network.num_outputs, dtype=np.int32)
    outputs["num_layers"] = np.array(network.num_layers, dtype=np.int32)
    outputs["num_io_tensors"] = np.array(engine.num_io_tensors, dtype=np.int32)
    expected = reference(inputs)

    passed = True
    for key in expected:
        if expected[key].dtype.kind == "f":
            err = float(np.max(np.abs(outputs[key] - expected[key])))
            ok = bool(np.allclose(outputs[key], expected[key], **TOLERANCE))
            print(f"check result: {ok}, {key}: max abs error = {err:.3e}")
        else:
            ok = bool(np.array_equal(outputs[key], expected[key]))
            print(f"check result: {ok}, {key} = {int(outputs[key])} (expected {int(expected[key])})")
        passed &= ok
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
