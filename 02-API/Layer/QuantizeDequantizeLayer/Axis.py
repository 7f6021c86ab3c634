#!/usr/bin/env python3
"""QuantizeDequantizeLayer / Axis: per-channel quantization, one scale per slice along `axis`.

A 1-D scale of length K with axis = 0 quantizes output map k of a [K, C, R, S] convolution kernel with scale[k].
TensorRT 8.6 supports per-channel scales only for weights (rooted at a Constant), not for activations; here they took
effect where an INT8 layer (the convolution) consumed them, and not where an elementwise SUM did. Two networks:
1. conv_output: the supported pattern, an INT8 convolution.
       x -> Quantize(per-tensor scale) -> Dequantize -> Convolution <- set_input(1) <- Dequantize(axis 0)
                                                                  <- Quantize(axis 0, 1-D scale) <- Constant kernel
   numpy reference: both operands fake-quantized (round half to even, clamp), then an exact float64 convolution.
2. add_output: what TensorRT 8.6 did with Constant W -> Quantize(axis 0) -> Dequantize(axis 0) -> elementwise SUM
   (observed on an H100): the Q/DQ pair was dropped and the output was x + W with the UNquantized weight.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

# Every scale is a power of two: x / scale and q * scale are exact, the INT8 products are summed exactly in INT32
# (|sum| < 2**24) and rescaled by a power of two, so the INT8 convolution matches numpy to FP32 precision.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
SHAPE = (1, 4, 5, 5)  # [N, C, H, W]; C = 4 as INT8 convolutions prefer channel counts that are multiples of 4
SCALE_X = np.float32(1.0 / 8)  # per-tensor scale of the activation (0-D)
SCALES_W = np.array([1.0 / 32, 1.0 / 4, 1.0, 8.0], dtype=np.float32)  # one per output map (axis 0 of the kernel)
rng = np.random.default_rng(31193)
# output map k holds weights of about +-100 * SCALES_W[k]: ranges that differ by a factor of 256
KERNEL = (rng.uniform(-100, 100, (4, 4, 3, 3)) * SCALES_W.reshape(4, 1, 1, 1)).astype(np.float32)  # [K, C, R, S]
# network 2: the earlier form of this example (a quantized constant added to an activation)
ADD_WEIGHT = np.array([[0.3, -0.61, 1.07, 17.0], [0.3, -0.61, 1.07, 17.0], [0.3, -3.2, 5.0, 300.0]], dtype=np.float32)
ADD_SCALES = np.array([1.0 / 8, 1.0 / 2, 2.0], dtype=np.float32)  # one per row (axis 0)


def make_inputs():
    x = np.random.default_rng(1).uniform(-6, 6, SHAPE).astype(np.float32)  # inside [-128, 127] * SCALE_X: no clamping
    return {"inputT0": x, "inputT1": np.zeros((3, 4), dtype=np.float32) + np.arange(4, dtype=np.float32)}


def fake_quantize(x, scale):
    """numpy: Quantize (round half to even, clamp to int8) followed by Dequantize, in float64."""
    return np.clip(np.round(x.astype(np.float64) / scale), -128, 127) * scale


def convolution(x, w):
    """numpy 2-D convolution (cross-correlation, as TensorRT computes it), stride 1, no padding, float64."""
    n, c, h, width = x.shape
    k, _, r, s = w.shape
    y = np.zeros((n, k, h - r + 1, width - s + 1))
    for i in range(h - r + 1):
        for j in range(width - s + 1):
            y[:, :, i, j] = np.tensordot(x[:, :, i:i + r, j:j + s], w, axes=([1, 2, 3], [1, 2, 3]))
    return y


def reference(inputs):
    x = fake_quantize(inputs["inputT0"], np.float64(SCALE_X))
    w = fake_quantize(KERNEL, SCALES_W.astype(np.float64).reshape(4, 1, 1, 1))  # per output map
    # network 2 (observed in TensorRT 8.6): the Q/DQ pair on the constant is removed, the weight is used as it is
    add = inputs["inputT1"] + ADD_WEIGHT
    return {"conv_output": convolution(x, w).astype(np.float32), "add_output": add.astype(np.float32)}


def show_per_channel_effect():
    """numpy only: why one scale per output map helps (printed for the reader)."""
    w = KERNEL.astype(np.float64)
    per_channel = fake_quantize(w, SCALES_W.astype(np.float64).reshape(4, 1, 1, 1))
    per_tensor = fake_quantize(w, np.float64(SCALES_W.max()))  # the one scale the largest output map needs
    for k in range(w.shape[0]):
        print(f"output map {k}: max|w| = {np.abs(w[k]).max():8.3f}, scale = {SCALES_W[k]:.4f}, "
              f"max quantization error per channel = {np.abs(per_channel[k] - w[k]).max():.4f}, "
              f"with one per-tensor scale {SCALES_W.max():.0f}: {np.abs(per_tensor[k] - w[k]).max():.4f} "
              f"({int(np.count_nonzero(per_tensor[k]))} of {w[k].size} codes non-zero)")


def add_conv_layers(network, inputs):
    """Network 1: INT8 convolution, activation per tensor, kernel per output map (axis 0)."""
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    scale_x = network.add_constant((), np.array([SCALE_X], dtype=np.float32)).get_output(0)  # 0-D: per tensor
    quantize_x = network.add_quantize(x, scale_x)
    dequantize_x = network.add_dequantize(quantize_x.get_output(0), scale_x)

    kernel = network.add_constant(KERNEL.shape, KERNEL).get_output(0)
    scale_w = network.add_constant(SCALES_W.shape, SCALES_W).get_output(0)  # 1-D: per channel
    quantize_w = network.add_quantize(kernel, scale_w)
    print(f"quantize axis before = {quantize_w.axis} (-1: per tensor)")
    quantize_w.axis = 0  # the output-map axis K of the [K, C, R, S] kernel
    dequantize_w = network.add_dequantize(quantize_w.get_output(0), scale_w)
    dequantize_w.axis = 0
    print(f"activation: scale = {float(SCALE_X)}, axis = {quantize_x.axis}; kernel: quantize axis = {quantize_w.axis}, "
          f"dequantize axis = {dequantize_w.axis}, scales = {SCALES_W.tolist()}")

    conv = network.add_convolution_nd(dequantize_x.get_output(0), KERNEL.shape[0], KERNEL.shape[2:], trt.Weights(),
                                      trt.Weights())  # empty kernel and bias: the kernel comes from input 1
    conv.set_input(1, dequantize_w.get_output(0))
    conv.get_output(0).name = "conv_output"
    network.mark_output(conv.get_output(0))


def add_elementwise_layers(network, inputs):
    """Network 2: a per-channel Q/DQ constant feeding an elementwise SUM (not an INT8 layer)."""
    x = network.add_input("inputT1", trt.float32, inputs["inputT1"].shape)
    w = network.add_constant(ADD_WEIGHT.shape, ADD_WEIGHT).get_output(0)
    scale = network.add_constant(ADD_SCALES.shape, ADD_SCALES).get_output(0)
    quantize_layer = network.add_quantize(w, scale)
    quantize_layer.axis = 0
    dequantize_layer = network.add_dequantize(quantize_layer.get_output(0), scale)
    dequantize_layer.axis = 0
    print(f"elementwise network: quantize axis = {quantize_layer.axis}, scales = {ADD_SCALES.tolist()}")
    add = network.add_elementwise(x, dequantize_layer.get_output(0), trt.ElementWiseOperation.SUM)
    add.get_output(0).name = "add_output"
    network.mark_output(add.get_output(0))


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_and_run(builder, logger, add_layers, inputs):
    """Build one network, run it once, return {output name: numpy array}."""
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)  # whatever runs in FP32 stays FP32
    config.set_flag(trt.BuilderFlag.INT8)  # Q/DQ layers need INT8 enabled
    add_layers(network, inputs)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    context = engine.create_execution_context()
    return execute(engine, context, inputs)


def run_engine(inputs):
    """Build and run both networks; return their outputs together."""
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    outputs = build_and_run(builder, logger, add_conv_layers, inputs)
    outputs.update(build_and_run(builder, logger, add_elementwise_layers, inputs))
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
    show_per_channel_effect()
    outputs = run_engine(inputs)
    expected = reference(inputs)
    passed = compare(outputs, expected)
    # not checks, context for the reader: what the outputs would be without the quantization of the weights
    unquantized = convolution(fake_quantize(inputs["inputT0"], np.float64(SCALE_X)), KERNEL.astype(np.float64))
    print(f"conv_output vs the same convolution with the unquantized kernel: max abs difference = "
          f"{np.abs(outputs['conv_output'] - unquantized).max():.3e}")
    fake = inputs["inputT1"] + fake_quantize(ADD_WEIGHT, ADD_SCALES.astype(np.float64).reshape(3, 1))
    print(f"add_output vs x + fake_quantize(W): max abs difference = {np.abs(outputs['add_output'] - fake).max():.3e}")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
