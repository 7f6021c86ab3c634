#!/usr/bin/env python3
"""ConvolutionNdLayer / Int8QDQ: an INT8 convolution from Quantize/Dequantize layers (explicit quantization).

x -> Quantize(scale_x) -> Dequantize(scale_x) -> convolution, with the kernel coming from
constant -> Quantize(scale_w per output map, axis 0) -> Dequantize -> set_input(1). With BuilderFlag.INT8 TensorRT
fuses the Q/DQ pairs into an INT8 convolution. numpy reference: quantize x and w the same way
(round half to even, clamp to [-128, 127], times the scale), then an exact float64 convolution.
TOLERANCE 1e-3: the INT8 products are exact, only the FP32 rescaling and accumulation order differ.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-3, "atol": 1e-3}
SHAPE = (1, 4, 5, 6)
rng = np.random.default_rng(31193)
KERNEL = rng.standard_normal((4, 4, 3, 3)).astype(np.float32)  # [K, C, R, S]
BIAS = np.array([0.5, -1.0, 1.5, -2.0], dtype=np.float32)
SCALE_X = np.array(3.0 / 127, dtype=np.float32)  # per-tensor scale of the activation (0-d)
SCALE_W = (np.max(np.abs(KERNEL), axis=(1, 2, 3)) / 127).astype(np.float32)  # per-channel scales of the kernel [K]


def make_inputs():
    return {"inputT0": np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)}


def fake_quantize(x, scale):
    """numpy: Quantize (round half to even, clamp to int8) followed by Dequantize."""
    return np.clip(np.round(x / scale), -128, 127) * scale


def reference(inputs):
    x = fake_quantize(inputs["inputT0"].astype(np.float64), np.float64(SCALE_X))
    w = fake_quantize(KERNEL.astype(np.float64), SCALE_W.astype(np.float64).reshape(4, 1, 1, 1))
    return {"outputT0": convolution(x, w, BIAS, (1, 1), (0, 0), (0, 0), (1, 1)).astype(np.float32)}


def convolution(x, w, b, stride, pre, post, dilation, groups=1):
    """numpy N-d convolution (cross-correlation, as TensorRT computes it), float64.

    x [N, C, *I]; w [K, C/groups, *F]; b [K] or None; pre/post: zeros added before/after each spatial axis.
    Output size per axis: floor((I + pre + post - DK) / stride) + 1 with DK = dilation * (F - 1) + 1.
    """
    nd = x.ndim - 2
    x = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(p, q) for p, q in zip(pre, post)])
    w = w.astype(np.float64)
    n, c, k = x.shape[0], x.shape[1], w.shape[0]
    dk = [d * (f - 1) + 1 for d, f in zip(dilation, w.shape[2:])]
    out_size = [(i - e) // s + 1 for i, e, s in zip(x.shape[2:], dk, stride)]
    y = np.zeros((n, k, *out_size))
    cg, kg = c // groups, k // groups
    for g in range(groups):
        xg, wg = x[:, g * cg:(g + 1) * cg], w[g * kg:(g + 1) * kg]
        for index in np.ndindex(*out_size):  # one output position: a dot product of a window with each filter
            window = tuple(slice(o * s, o * s + e, d) for o, s, e, d in zip(index, stride, dk, dilation))
            patch = xg[(slice(None), slice(None)) + window]  # [N, C/groups, *F]
            y[(slice(None), slice(g * kg, (g + 1) * kg)) + index] = np.tensordot(
                patch, wg, axes=(list(range(1, 2 + nd)), list(range(1, 2 + nd))))
    if b is not None:
        y += b.astype(np.float64).reshape((1, k) + (1,) * nd)
    return y


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, SHAPE)
    scale_x = network.add_constant((), trt.Weights(SCALE_X)).get_output(0)
    quantize_x = network.add_quantize(x, scale_x)
    dequantize_x = network.add_dequantize(quantize_x.get_output(0), scale_x)
    print(f"activation: per-tensor scale {float(SCALE_X):.6f}, quantize axis = {quantize_x.axis}")

    kernel = network.add_constant(KERNEL.shape, trt.Weights(KERNEL)).get_output(0)
    scale_w = network.add_constant(SCALE_W.shape, trt.Weights(SCALE_W)).get_output(0)
    quantize_w = network.add_quantize(kernel, scale_w)
    quantize_w.axis = 0  # one scale per output map
    dequantize_w = network.add_dequantize(quantize_w.get_output(0), scale_w)
    dequantize_w.axis = 0
    print(f"kernel: per-channel scales {SCALE_W}, axis = {quantize_w.axis}")

    layer = network.add_convolution_nd(dequantize_x.get_output(0), 4, (3, 3), trt.Weights(), trt.Weights(BIAS))
    layer.set_input(1, dequantize_w.get_output(0))
    layer.get_output(0).name = "outputT0"
    network.mark_output(layer.get_output(0))


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
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 convolution, compared with numpy at 1e-5
    config.set_flag(trt.BuilderFlag.INT8)  # needed for the Q/DQ layers to run in INT8
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
