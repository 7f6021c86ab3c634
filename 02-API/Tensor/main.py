#!/usr/bin/env python3
"""02-API/Tensor: the members of ITensor, printed before and after each setting, and one FP16 output whose
allowed formats are CHW2 or HWC8.

Network: inputT0 [1,4,3,5] float32 -> ReLU -> outputT0, where outputT0 is declared float16 (tensor.dtype) and may
only be delivered in the vectorized formats CHW2 or HWC8 (tensor.allowed_formats). TensorRT picks one of them; the
engine reports which (engine.get_tensor_format), and the script converts that layout back to a plain [1,4,3,5]
array before comparing it with numpy.

Members shown: name, shape, dtype, dynamic_range / set_dynamic_range / reset_dynamic_range, allowed_formats,
location, is_network_input / is_network_output, broadcast_across_batch (deprecated).
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

SHAPE = (1, 4, 3, 5)  # N, C, H, W: C = 4 is padded to 2*2 in CHW2 and to 8 in HWC8
# The output is float16: compare with FP16 tolerance.
TOLERANCE = {"rtol": 1e-2, "atol": 1e-2}


def make_inputs():
    return {"inputT0": ((np.arange(np.prod(SHAPE), dtype=np.float32) - 30) / 8).reshape(SHAPE)}


def reference(inputs):
    """numpy: ReLU(x), rounded to float16 like the engine's output, returned as float32."""
    return {"outputT0": np.maximum(inputs["inputT0"], 0).astype(np.float16).astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def format_names(bits):
    """Decode a TensorFormat bit mask (1 << int(TensorFormat.X) | ...) into the names of its formats."""
    return [name for name, value in sorted(trt.TensorFormat.__members__.items(), key=lambda kv: int(kv[1]))
            if bits & (1 << int(value))]


def describe(tensor, title):
    print(f"--- {title}")
    print(f"  name                   = {tensor.name}")
    print(f"  shape                  = {tensor.shape}")
    print(f"  dtype                  = {tensor.dtype}")
    print(f"  location               = {tensor.location}")
    print(f"  is_network_input       = {tensor.is_network_input}")
    print(f"  is_network_output      = {tensor.is_network_output}")
    print(f"  dynamic_range          = {tensor.dynamic_range}")
    print(f"  allowed_formats        = {tensor.allowed_formats:#x} {format_names(tensor.allowed_formats)}")
    print(f"  broadcast_across_batch = {tensor.broadcast_across_batch}  (deprecated, ignored with explicit batch)")


def build_engine(logger):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)  # the output is float16

    x = network.add_input("inputT0", trt.float32, SHAPE)
    relu = network.add_activation(x, trt.ActivationType.RELU)
    y = relu.get_output(0)
    describe(y, "layer output, before anything is set (TensorRT's default name)")

    y.name = "outputT0"  # name: readable and settable
    network.mark_output(y)  # dtype and allowed_formats only count for network inputs and outputs

    # dynamic range: [min, max] used by INT8 without a calibrator (see 02-API/INT8-PTQ); ignored otherwise
    print(f"set_dynamic_range(-4.0, 4.0) returned {y.set_dynamic_range(-4.0, 4.0)}")
    print(f"  dynamic_range after set_dynamic_range = {y.dynamic_range}")
    y.reset_dynamic_range()
    print(f"  dynamic_range after reset_dynamic_range = {y.dynamic_range}")
    y.dynamic_range = (-2.0, 2.0)  # the property accepts a (min, max) pair as well
    print(f"  dynamic_range after 'dynamic_range = (-2.0, 2.0)' = {y.dynamic_range}")
    y.reset_dynamic_range()  # this FP16 example does not use it

    y.dtype = trt.float16
    y.allowed_formats = 1 << int(trt.TensorFormat.CHW2) | 1 << int(trt.TensorFormat.HWC8)
    describe(x, "network input inputT0")
    describe(y, "network output outputT0 after dtype = float16, allowed_formats = CHW2 | HWC8")

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


def buffer_elements(fmt, shape):
    """Number of float16 values in the output buffer for a [N,C,H,W] tensor in the given format."""
    n, c, h, w = shape
    if fmt == trt.TensorFormat.CHW2:  # [N][ceil(C/2)][H][W][2]
        return n * ((c + 1) // 2) * h * w * 2
    if fmt == trt.TensorFormat.HWC8:  # [N][H][W][ceil(C/8)*8]
        return n * h * w * ((c + 7) // 8) * 8
    return n * c * h * w  # LINEAR


def to_nchw(raw, fmt, shape):
    """Undo the vectorized layout: return the logical [N,C,H,W] array."""
    n, c, h, w = shape
    if fmt == trt.TensorFormat.CHW2:
        groups = (c + 1) // 2
        return raw.reshape(n, groups, h, w, 2).transpose(0, 1, 4, 2, 3).reshape(n, groups * 2, h, w)[:, :c]
    if fmt == trt.TensorFormat.HWC8:
        padded = (c + 7) // 8 * 8
        return raw.reshape(n, h, w, padded)[..., :c].transpose(0, 3, 1, 2)
    return raw.reshape(n, c, h, w)


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    engine = build_engine(logger)

    fmt = engine.get_tensor_format("outputT0")
    print("--- what the engine reports for outputT0")
    print(f"  get_tensor_dtype         = {engine.get_tensor_dtype('outputT0')}")
    print(f"  get_tensor_format        = {fmt}  (TensorRT chose one of the allowed formats)")
    print(f"  get_tensor_format_desc   = {engine.get_tensor_format_desc('outputT0')}")
    print(f"  get_tensor_vectorized_dim = {engine.get_tensor_vectorized_dim('outputT0')}, "
          f"components_per_element = {engine.get_tensor_components_per_element('outputT0')}")
    print(f"  get_tensor_location      = {engine.get_tensor_location('outputT0')}")
    format_ok = fmt in (trt.TensorFormat.CHW2, trt.TensorFormat.HWC8)
    print(f"check result: {format_ok}, the chosen format {fmt.name} is one of the allowed formats CHW2 / HWC8")

    inputs = make_inputs()
    context = engine.create_execution_context()
    print(f"  context.get_tensor_strides('outputT0') = {context.get_tensor_strides('outputT0')}")
    x_host = np.ascontiguousarray(inputs["inputT0"])
    y_raw = np.zeros(buffer_elements(fmt, SHAPE), dtype=np.float16)  # padded, vectorized buffer
    x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
    y_device = check_cuda(cudart.cudaMalloc(y_raw.nbytes))
    check_cuda(cudart.cudaMemset(y_device, 0, y_raw.nbytes))
    context.set_tensor_address("inputT0", x_device)
    context.set_tensor_address("outputT0", y_device)

    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(y_raw.ctypes.data, y_device, y_raw.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))

    print(f"raw output buffer in {fmt.name} layout ({y_raw.size} float16 values, padding included):\n{y_raw}")
    y = to_nchw(y_raw, fmt, SHAPE).astype(np.float32)
    print(f"outputT0 converted back to NCHW {y.shape}:\n{y}")

    expected = reference(inputs)["outputT0"]
    max_error = float(np.max(np.abs(y - expected)))
    passed = bool(np.allclose(y, expected, **TOLERANCE))
    print(f"check result: {passed}, max abs error = {max_error:.3e}")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", outputT0=y)

    for pointer in (x_device, y_device):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed and format_ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
