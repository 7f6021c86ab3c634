#!/usr/bin/env python3
"""DeconvolutionNdLayer / Dilation: dilation_nd, gaps between the kernel taps in the output.

dilation_nd (2,2) and (1,2) with stride (1,1): each input element scatters the 3x3 kernel into the output
with taps D apart, so a window covers DK = D*(F-1)+1 elements and the output is (I-1)*S + DK per axis.
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
SHAPE = (1, 2, 3, 4)  # N, C, H, W
rng = np.random.default_rng(31193)
# small integers keep the printed numbers readable (and every product exact)
KERNEL = rng.integers(-2, 3, size=(2, 2, 3, 3)).astype(np.float32)  # [C, K, R, S] (CKRS order)
BIAS = np.array([0.5, -1.0], dtype=np.float32)


def make_inputs():
    return {"inputT0": np.random.default_rng(1).integers(-4, 5, size=SHAPE).astype(np.float32)}

DILATIONS = [(2, 2), (1, 2)]


def reference(inputs):
    x = inputs["inputT0"]
    return {f"dilation{d[0]}{d[1]}/outputT0": deconvolution(x, KERNEL, BIAS, (1, 1), (0, 0), (0, 0), d).astype(np.float32)
            for d in DILATIONS}


def deconvolution(x, w, b, stride, pre, post, dilation, groups=1):
    """numpy N-d deconvolution (transposed convolution), float64.

    x [N, C, *I]; w [C, K/groups, *F] (TensorRT's CKRS order); b [K] or None.
    Every input element scatters x * filter into the output at position i * stride (taps dilation apart);
    the full output ((I - 1) * stride + DK per axis) is then trimmed by pre/post elements at the start/end.
    """
    nd = x.ndim - 2
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, c, kg = x.shape[0], x.shape[1], w.shape[1]
    k, cg = kg * groups, c // groups
    dk = [d * (f - 1) + 1 for d, f in zip(dilation, w.shape[2:])]
    full = [(i - 1) * s + e for i, s, e in zip(x.shape[2:], stride, dk)]
    y = np.zeros((n, k, *full))
    for g in range(groups):
        xg, wg = x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg]
        for index in np.ndindex(*x.shape[2:]):
            window = tuple(slice(i * s, i * s + e, d) for i, s, e, d in zip(index, stride, dk, dilation))
            contribution = np.tensordot(xg[(slice(None), slice(None)) + index], wg, axes=(1, 0))  # [N, K/g, *F]
            y[(slice(None), slice(g * kg, (g + 1) * kg)) + window] += contribution
    y = y[(slice(None), slice(None)) + tuple(slice(p, size - q) for p, q, size in zip(pre, post, full))]
    if b is not None:
        y += b.astype(np.float64).reshape((1, k) + (1,) * nd)
    return y


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, SHAPE)
    for dilation in DILATIONS:
        layer = network.add_deconvolution_nd(x, 2, (3, 3), trt.Weights(KERNEL), trt.Weights(BIAS))
        layer.dilation_nd = dilation
        print(f"dilation_nd = {layer.dilation_nd}: output shape {layer.get_output(0).shape}")
        layer.get_output(0).name = f"dilation{dilation[0]}{dilation[1]}/outputT0"
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
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 deconvolution, compared with numpy at 1e-5
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
