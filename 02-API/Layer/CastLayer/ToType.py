#!/usr/bin/env python3
"""CastLayer / ToType: the conversions between float32, float16, int32 and bool, and what 8.6 says to uint8.

Three inputs (float32, int32, bool) and one cast layer per conversion; outputs are named "<from>_to_<to>".
float -> int rounds toward zero, anything -> bool is "!= 0", bool -> number gives 0/1.
to_type can also be changed after creation (shown on the last layer).
Every marked output gets its dtype set to the cast's type: TensorRT 8.6 refuses to build otherwise (see README).
A cast to uint8 inside the network is refused by TensorRT 8.6 ("has datatype UInt8 but is not a network-level
input", seen on an H100): a second, small build shows that error.
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
SHAPE = (3, 4)


def make_inputs():
    return {"inputF32": ((np.arange(12, dtype=np.float32) - 6) * 0.75).reshape(SHAPE),
            "inputI32": (np.arange(12, dtype=np.int32) - 6).reshape(SHAPE),
            "inputBool": (np.arange(12).reshape(SHAPE) % 3 == 0)}


def reference(inputs):
    f, i, b = inputs["inputF32"], inputs["inputI32"], inputs["inputBool"]
    return {
        "float32_to_float16": f.astype(np.float16),
        "float32_to_int32": np.trunc(f).astype(np.int32),
        "float32_to_bool": f != 0,
        "int32_to_float32": i.astype(np.float32),
        "int32_to_float16": i.astype(np.float16),
        "int32_to_bool": i != 0,
        "bool_to_float32": b.astype(np.float32),
        "bool_to_int32": b.astype(np.int32),
        "int32_to_float32_via_to_type": i.astype(np.float32),
        "uint8_cast_refused": np.array(True),  # known in advance: TensorRT 8.6 refuses the build (see below)
    }


def add_layers(network, inputs):
    f = network.add_input("inputF32", trt.float32, SHAPE)
    i = network.add_input("inputI32", trt.int32, SHAPE)
    b = network.add_input("inputBool", trt.bool, SHAPE)
    cases = [("float32_to_float16", f, trt.float16), ("float32_to_int32", f, trt.int32),
             ("float32_to_bool", f, trt.bool), ("int32_to_float32", i, trt.float32),
             ("int32_to_float16", i, trt.float16), ("int32_to_bool", i, trt.bool),
             ("bool_to_float32", b, trt.float32), ("bool_to_int32", b, trt.int32)]
    for name, tensor, to_type in cases:
        layer = network.add_cast(tensor, to_type)
        print(f"{name:20s} {tensor.dtype} -> layer.to_type = {layer.to_type}")
        output = layer.get_output(0)
        output.name = name
        network.mark_output(output)
        # TensorRT 8.6: a network output keeps the default type float32 unless it is set. A cast to int32 / bool / uint8
        # marked as output without this fails at build time with "Output tensor ... of type Float produced from output
        # of incompatible type Int32" (float16 would be silently converted back to float32), so set it every time.
        output.dtype = to_type
    layer = network.add_cast(i, trt.float16)
    layer.to_type = trt.float32  # the member can be changed after creation
    print(f"int32_to_float32_via_to_type: created with float16, layer.to_type changed to {layer.to_type}")
    output = layer.get_output(0)
    output.name = "int32_to_float32_via_to_type"
    network.mark_output(output)
    output.dtype = trt.float32


class CollectingLogger(trt.ILogger):
    """Keeps TensorRT's messages so that the script can print the error of a refused build."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR):
            self.messages.append(msg)


def uint8_cast_is_refused():
    """float32 -> Cast(uint8), marked as an output and cast back to float32: TensorRT 8.6 refuses to build it.

    uint8 is meant for network inputs and outputs only (e.g. image bytes); on the H100 with 8.6.0 the build failed
    with "Tensor: float32_to_uint8 has datatype UInt8 but is not a network-level input".
    """
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    x = network.add_input("inputF32", trt.float32, SHAPE)
    as_uint8 = network.add_cast(x, trt.uint8).get_output(0)
    as_uint8.name = "float32_to_uint8"
    network.mark_output(as_uint8)
    as_uint8.dtype = trt.uint8
    back = network.add_cast(as_uint8, trt.float32).get_output(0)
    back.name = "float32_to_uint8_to_float32"
    network.mark_output(back)
    back.dtype = trt.float32
    refused = builder.build_serialized_network(network, builder.create_builder_config()) is None
    print(f"float32 -> uint8 cast inside the network: build {'refused' if refused else 'accepted'}")
    for message in logger.messages:
        print(f"    [TRT] {message}")
    return refused


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
    return execute(engine, inputs)


def execute(engine, inputs):
    """Copy the inputs in, run the engine once on a stream, copy the outputs back."""
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device = {}, {}
    for name in input_names:
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        context.set_input_shape(name, host[name].shape)  # harmless for static shapes
        if engine.is_shape_inference_io(name):  # a shape tensor: TensorRT reads its values from host memory
            context.set_tensor_address(name, host[name].ctypes.data)
    for name in output_names:  # output shapes are known once every input shape (and shape-tensor value) is set
        host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=trt.nptype(engine.get_tensor_dtype(name)))
    for name in names:
        if name in input_names and engine.is_shape_inference_io(name):
            continue
        device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
        context.set_tensor_address(name, device[name])
    stream = check_cuda(cudart.cudaStreamCreate())
    for name in input_names:
        if name in device:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    for name in output_names:
        check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in device.values():
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return {name: host[name] for name in output_names}


def check(name, got, want):
    """Compare one output with the reference: floats within TOLERANCE, integers and booleans exactly."""
    if got.shape != want.shape:
        print(f"check result: False, {name}: shape {got.shape} != expected {want.shape}")
        return False
    if want.dtype.kind == "f":
        error = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
        ok = bool(np.allclose(got, want, **TOLERANCE))
        print(f"check result: {ok}, {name}: max abs error = {error:.3e}")
    else:
        ok = bool(np.array_equal(got, want))
        print(f"check result: {ok}, {name}: {int(np.sum(got != want))} elements differ (exact comparison)")
    return ok


def main():
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"{name} {value.shape} {value.dtype}:\n{value}")
    outputs = run_engine(inputs)
    outputs["uint8_cast_refused"] = np.array(uint8_cast_is_refused())
    expected = reference(inputs)
    passed = True
    for name, want in expected.items():
        got = outputs[name]
        print(f"{name} {got.shape} {got.dtype}:\n{got}")
        passed = check(name, got, want) and passed
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **{k: outputs[k] for k in expected})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
