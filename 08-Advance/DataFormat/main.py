#!/usr/bin/env python3
"""08-Advance/DataFormat: vectorized I/O formats at the network boundary (tensor.allowed_formats), with the host side
packing and unpacking them in numpy: an FP16 input in HWC8 and an INT8 output in CHW32.

Network: inputT0 [1,3,5,7] float16, allowed_formats = HWC8 -> y = inputT0 * 2 (ElementWise PROD with a constant)
-> outputT0 [1,3,5,7] int8, allowed_formats = CHW32, dynamic range +-12.7 (INT8 scale 0.1). Built with FP16 and
INT8 allowed. The formats fix the memory layout of the buffers given to set_tensor_address:
- HWC8 (FP16): [N][H][W][C padded to a multiple of 8]: channels last, 8 values per pixel, the 5 pad channels zero
- CHW32 (INT8): [N][ceil(C/32)][H][W][32]: blocks of 32 channels, each pixel's 32 channel values contiguous
Checked: engine.get_tensor_format reports HWC8 and CHW32 (the buffers are read and written in those layouts); the
unpacked INT8 output equals round(2x / 0.1) exactly (the input values are multiples of 0.25, so every quotient is an
integer and no rounding mode is involved).
The run block binds plain (LINEAR) buffers only; packing vectorized buffers is this example's lesson, so it is inline.
02-API/Tensor shows an FP16 output in CHW2 / HWC8; ../../02-API/Layer/ILayer/PrecisionINT8.py an INT8 HWC input.
"""
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

SHAPE = (1, 3, 5, 7)   # N, C, H, W
SCALE = 0.1            # INT8 scale of the output: dynamic range 127 * SCALE
TOLERANCE = {"rtol": 0, "atol": 0}   # integer and boolean outputs: compared exactly


def make_inputs():
    values = (np.arange(np.prod(SHAPE)) % 25 - 12) * 0.25   # -3.0 .. 3.0 in steps of 0.25, exact in FP16
    return {"inputT0": values.reshape(SHAPE).astype(np.float16)}


def reference(inputs):
    q = np.rint(inputs["inputT0"].astype(np.float64) * 2 / SCALE)   # integers already: rint changes nothing
    return {"outputT0": np.clip(q, -128, 127).astype(np.int8),
            "input_is_HWC8": np.array(True), "output_is_CHW32": np.array(True)}


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
    config.set_flag(trt.BuilderFlag.FP16)
    config.set_flag(trt.BuilderFlag.INT8)
    x = network.add_input("inputT0", trt.float16, SHAPE)
    x.allowed_formats = 1 << int(trt.TensorFormat.HWC8)
    # no dynamic range on x or the constant: the multiplication cannot run in INT8 and stays exact in FP16; only the
    # output is quantized, with the output's range
    two_value = np.array([2], dtype=np.float16)  # TensorRT reads it during the build: keep it alive until then
    two = network.add_constant((1, 1, 1, 1), trt.Weights(two_value))
    y = network.add_elementwise(x, two.get_output(0), trt.ElementWiseOperation.PROD).get_output(0)
    y.name = "outputT0"
    network.mark_output(y)
    y.dtype = trt.int8
    y.allowed_formats = 1 << int(trt.TensorFormat.CHW32)
    y.set_dynamic_range(-127 * SCALE, 127 * SCALE)
    serialized = builder.build_serialized_network(network, config)
    del two_value
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine


def pack_hwc8(x):
    """[N,C,H,W] -> the HWC8 buffer [N,H,W,ceil(C/8)*8], pad channels zero."""
    n, c, h, w = x.shape
    packed = np.zeros((n, h, w, -(-c // 8) * 8), dtype=x.dtype)
    packed[..., :c] = x.transpose(0, 2, 3, 1)
    return packed


def unpack_chw32(buffer, shape):
    """The CHW32 buffer [N,ceil(C/32),H,W,32] -> [N,C,H,W] (the pad channels dropped)."""
    n, c, h, w = shape
    return buffer.transpose(0, 1, 4, 2, 3).reshape(n, -1, h, w)[:, :c]


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    engine = build_engine(logger)
    outputs = {}
    for name, want, key in (("inputT0", trt.TensorFormat.HWC8, "input_is_HWC8"),
                            ("outputT0", trt.TensorFormat.CHW32, "output_is_CHW32")):
        fmt = engine.get_tensor_format(name)
        print(f"{name}: {engine.get_tensor_dtype(name)}, format {fmt}: {engine.get_tensor_format_desc(name)}")
        outputs[key] = np.array(fmt == want)

    inputs = make_inputs()
    x_packed = pack_hwc8(inputs["inputT0"])
    n, c, h, w = SHAPE
    y_buffer = np.empty((n, -(-c // 32), h, w, 32), dtype=np.int8)
    context = engine.create_execution_context()
    stream = check_cuda(cudart.cudaStreamCreate())
    d_x, d_y = check_cuda(cudart.cudaMalloc(x_packed.nbytes)), check_cuda(cudart.cudaMalloc(y_buffer.nbytes))
    context.set_tensor_address("inputT0", d_x)
    context.set_tensor_address("outputT0", d_y)
    check_cuda(cudart.cudaMemcpyAsync(d_x, x_packed.ctypes.data, x_packed.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(y_buffer.ctypes.data, d_y, y_buffer.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    outputs["outputT0"] = np.ascontiguousarray(unpack_chw32(y_buffer, SHAPE))
    print(f"HWC8 input buffer {x_packed.shape} float16, CHW32 output buffer {y_buffer.shape} int8")
    print(f"outputT0 unpacked, channel 0:\n{outputs['outputT0'][0, 0]}")

    passed = True
    for name, want in reference(inputs).items():
        got = outputs[name]
        same = got.shape == want.shape and got.dtype == want.dtype and bool(np.array_equal(got, want))
        print(f"check result: {same}, {name}: {int(np.sum(got != want)) if got.shape == want.shape else 'shape'} "
              f"of {want.size} elements differ (exact comparison)")
        passed = passed and same
    np.savez("main.output.npz", **outputs)
    for pointer in (d_x, d_y):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
