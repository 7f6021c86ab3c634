#!/usr/bin/env python3
"""IdentityLayer / OutputType: type conversion with layer.set_output_type(0, dtype) (and the output tensor's dtype).

FLOAT -> HALF, FLOAT -> INT32, FLOAT -> BOOL (non-zero is True), INT32 -> FLOAT, INT32 -> HALF, HALF -> FLOAT.
The allowed conversions in 8.6: (FLOAT | HALF | INT32 | BOOL) -> (FLOAT | HALF | INT32 | BOOL), (FLOAT | HALF) ->
UINT8, UINT8 -> (FLOAT | HALF). The float inputs hold whole numbers, so every conversion is exact (how a fraction
is rounded to INT32 is not specified by the 8.6 documentation). The last output uses the older way, setting only the
network output's dtype ("implicit conversion", still accepted in 8.x but to be replaced by set_output_type)."""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # the conversions of these whole numbers are exact
SHAPE = (3, 4)
CASES = (  # (output name, input name, output type, numpy type)
    ("float32ToFloat16/outputT0", "inputF32", trt.float16, np.float16),
    ("float32ToInt32/outputT0", "inputF32", trt.int32, np.int32),
    ("float32ToBool/outputT0", "inputF32", trt.bool, np.bool_),
    ("int32ToFloat32/outputT0", "inputI32", trt.float32, np.float32),
    ("int32ToFloat16/outputT0", "inputI32", trt.float16, np.float16),
    ("float16ToFloat32/outputT0", "inputF16", trt.float32, np.float32),
)
IMPLICIT = "implicitFloat32ToFloat16/outputT0"


def make_inputs():
    x = np.arange(np.prod(SHAPE)).reshape(SHAPE) - 5
    return {"inputF32": x.astype(np.float32), "inputI32": (x * 100).astype(np.int32),
            "inputF16": (x / 4).astype(np.float16)}  # quarters are exact in FP16 and FP32


def reference(inputs):
    result = {}
    for output_name, input_name, _, np_type in CASES:
        x = inputs[input_name]
        result[output_name] = (x != 0) if np_type == np.bool_ else x.astype(np_type)
    result[IMPLICIT] = inputs["inputF32"].astype(np.float16)
    return result


def add_layers(network, inputs):
    tensors = {"inputF32": network.add_input("inputF32", trt.float32, SHAPE),
               "inputI32": network.add_input("inputI32", trt.int32, SHAPE),
               "inputF16": network.add_input("inputF16", trt.float16, SHAPE)}
    for output_name, input_name, trt_type, _ in CASES:
        layer = network.add_identity(tensors[input_name])
        layer.set_output_type(0, trt_type)  # the conversion
        output = layer.get_output(0)
        output.name = output_name
        network.mark_output(output)
        output.dtype = trt_type  # the network output's type, matching the layer's output type
        print(f"{input_name} ({tensors[input_name].dtype}) -> identity -> {output_name}: "
              f"get_output_type(0) = {layer.get_output_type(0)}, output_type_is_set(0) = {layer.output_type_is_set(0)}")
    layer = network.add_identity(tensors["inputF32"])  # the older way: only the output tensor's dtype
    output = layer.get_output(0)
    output.name = IMPLICIT
    network.mark_output(output)
    output.dtype = trt.float16
    print(f"inputF32 -> identity -> {IMPLICIT}: output_type_is_set(0) = {layer.output_type_is_set(0)}, "
          f"network output dtype = {output.dtype}")


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
    config.set_flag(trt.BuilderFlag.FP16)  # allow FP16 layer outputs
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
