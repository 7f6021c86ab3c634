#!/usr/bin/env python3
"""QuantizeDequantizeLayer / ZeroPoint: the optional third input (index 2) of Quantize and Dequantize.

q = clamp(round(x / scale) + zero_point), y = (q - zero_point) * scale. TensorRT 8.6 supports only symmetric
quantization, so the zero point must be 0 (NvInfer.h), and it must be a build-time constant of the scale's size.
NvInfer.h also says its type must be INT8, but the 8.6 builder accepts an INT8 constant only as the data input of a
Dequantize layer: an INT8 zero-point constant feeding a Quantize layer is refused when the engine is built
("Int8 constant is only allowed before DQ node"). The form TensorRT's own ONNX parser uses is a FLOAT zero-point
constant (it converts the ONNX INT8 zero point to float). Three builds:
1. zero_point_0: a FLOAT32 constant 0 on Quantize and Dequantize; same result as no zero point at all (checked).
2. int8_zero_point_build_failed: an INT8 constant 0 on both layers; the build is refused (checked, error printed).
3. a FLOAT32 constant 3 (asymmetric): documented as unsupported; the script prints what the builder does with it
   (not a check; on an H100 with 8.6.0 it was NOT refused and computed x/16 + 3.75 with scale 0.25: see README).
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

# the scale is a power of two: the round trip is exact in FP32
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
SCALE = 0.25


def make_inputs():
    return {"inputT0": np.array([0.1, -0.3, 0.625, 1.0, -40.0, 33.3], dtype=np.float32)}


def roundtrip(x, zero_point):
    """numpy: Quantize then Dequantize with a zero point (round half to even, clamp to int8)."""
    q = np.clip(np.round(x.astype(np.float64) / SCALE) + zero_point, -128, 127)
    return (q - zero_point) * SCALE


def reference(inputs):
    # known in advance: an INT8 zero-point constant in front of a Quantize layer is refused by the 8.6 builder
    return {"zero_point_0": roundtrip(inputs["inputT0"], 0).astype(np.float32),
            "int8_zero_point_build_failed": np.array(True)}


class ErrorCollector(trt.ILogger):
    """A logger that keeps TensorRT's error messages, so that the script can print and explain them."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR):
            self.messages.append(msg)


def add_layers(network, inputs, zero_point, dtype):
    """x -> Quantize(scale, zero point) -> Dequantize(scale, zero point) -> output "zero_point_0"."""
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    scale = network.add_constant((), np.array([SCALE], dtype=np.float32)).get_output(0)
    zero = network.add_constant((), np.array([zero_point], dtype=dtype)).get_output(0)  # 0-D, like the scale
    quantize_layer = network.add_quantize(x, scale)
    quantize_layer.set_input(2, zero)  # inputs: 0 data, 1 scale, 2 zero point
    dequantize_layer = network.add_dequantize(quantize_layer.get_output(0), scale)
    dequantize_layer.set_input(2, zero)
    print(f"zero point = {zero_point}, {np.dtype(dtype).name} constant ({zero.dtype}): "
          f"quantize layer has {quantize_layer.num_inputs} inputs")
    dequantize_layer.get_output(0).name = "zero_point_0"
    network.mark_output(dequantize_layer.get_output(0))


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build(logger, inputs, zero_point, dtype):
    """Build the network with the given zero point; return the serialized engine or None (refused)."""
    logger.messages.clear()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.INT8)  # Q/DQ layers need INT8 enabled
    try:
        add_layers(network, inputs, zero_point, dtype)
        serialized = builder.build_serialized_network(network, config)
    except Exception as error:  # an API that raises instead of returning None counts as refused too
        logger.messages.append(str(error))
        serialized = None
    said = ", TensorRT said:" if logger.messages else ""
    print(f"    build {'refused' if serialized is None else 'succeeded'}{said}")
    for message in logger.messages:
        print(f"    {message}")
    return serialized


def build_and_run(logger, inputs, zero_point, dtype):
    """Build and run; None if TensorRT refused the network."""
    serialized = build(logger, inputs, zero_point, dtype)
    if serialized is None:
        return None
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed:\n" + "\n".join(logger.messages))
    return execute(engine, engine.create_execution_context(), inputs)["zero_point_0"]


def run_engine(inputs):
    """Build 1 (float zero point 0) and 2 (INT8 zero point 0) are checked; build 3 (float 3) is only printed."""
    logger = ErrorCollector()
    outputs = {}
    result = build_and_run(logger, inputs, 0, np.float32)
    if result is None:
        raise RuntimeError("building the engine with a FLOAT32 zero point 0 failed (see above)")
    outputs["zero_point_0"] = result

    outputs["int8_zero_point_build_failed"] = np.array(build(logger, inputs, 0, np.int8) is None)

    result = build_and_run(logger, inputs, 3, np.float32)  # asymmetric: documented as unsupported in 8.6
    if result is None:
        print("zero point 3 (FLOAT32): refused by the builder, as NvInfer.h documents")
    else:
        x = inputs["inputT0"]
        print(f"zero point 3 (FLOAT32): NOT refused; TensorRT computed {result}\n"
              f"    numpy with zero point 3 applied: {roundtrip(x, 3).astype(np.float32)}\n"
              f"    numpy with the zero point ignored: {roundtrip(x, 0).astype(np.float32)}")
    return outputs


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
