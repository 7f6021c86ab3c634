#!/usr/bin/env python3
"""ResizeLayer / ResizeMode: NEAREST, LINEAR (bi-linear over H, W) and CUBIC interpolation.

trt.ResizeMode (an alias of trt.InterpolationMode in 8.6). The same [1, 1, 3, 4] -> [1, 1, 6, 8] resize with
coordinate_transformation HALF_PIXEL in the three modes; CUBIC uses cubic_coeff -0.75 (the default).
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
SHAPE = (1, 1, 3, 4)
OUT_SHAPE = (1, 1, 6, 8)
MODES = ["NEAREST", "LINEAR", "CUBIC"]


def make_inputs():
    return {"inputT0": np.array([[0, 1, 4, 9], [2, 3, 5, 7], [8, 6, 4, 2]], dtype=np.float32).reshape(SHAPE)}


def source_coordinate(o, n_in, n_out, scale, transform):
    """ONNX Resize: the input coordinate that output index o reads (before rounding or interpolation)."""
    if transform == "HALF_PIXEL":
        return (o + 0.5) / scale - 0.5
    if transform == "ALIGN_CORNERS":
        return o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    return o / scale  # ASYMMETRIC


def cubic_weight(d, a):
    d = abs(d)
    if d <= 1:
        return ((a + 2) * d - (a + 3)) * d * d + 1
    if d < 2:
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return 0.0


def interpolation_matrix(n_in, n_out, scale, mode, transform, rounding="FLOOR", cubic_coeff=-0.75,
                         exclude_outside=False, selector="FORMULA"):
    """(n_out, n_in) matrix M so that resizing one dimension of x is M @ x."""
    m = np.zeros((n_out, n_in), dtype=np.float64)
    for o in range(n_out):
        if n_out == 1 and n_in > 1 and selector == "UPPER":
            x = 0.0  # a single output pixel takes the upper-left input pixel
        else:
            x = source_coordinate(o, n_in, n_out, scale, transform)
        if mode == "NEAREST":
            i = {"FLOOR": np.floor(x), "CEIL": np.ceil(x), "HALF_DOWN": np.ceil(x - 0.5), "HALF_UP": np.floor(x + 0.5)}[rounding]
            m[o, int(np.clip(i, 0, n_in - 1))] = 1.0
        elif mode == "LINEAR":
            x = float(np.clip(x, 0, n_in - 1))  # outside the input: the edge value
            i0 = int(np.floor(x))
            i1 = min(i0 + 1, n_in - 1)
            m[o, i0] += 1.0 - (x - i0)
            m[o, i1] += x - i0
        else:  # CUBIC: 4 taps around x
            i0 = int(np.floor(x))
            taps = [(i, cubic_weight(x - i, cubic_coeff)) for i in range(i0 - 1, i0 + 3)]
            if exclude_outside:  # drop taps outside the input and renormalize the rest
                taps = [(i, w) for i, w in taps if 0 <= i < n_in]
                total = sum(w for _, w in taps)
                taps = [(i, w / total) for i, w in taps]
            for i, w in taps:
                m[o, int(np.clip(i, 0, n_in - 1))] += w  # outside taps read the edge value
    return m


def resize(x, out_shape, scales=None, **options):
    """Resize every dimension of x to out_shape, one dimension after the other (the interpolation is separable)."""
    y = x.astype(np.float64)
    for axis, (n_in, n_out) in enumerate(zip(x.shape, out_shape)):
        scale = scales[axis] if scales is not None else n_out / n_in
        m = interpolation_matrix(n_in, n_out, scale, **options)
        y = np.moveaxis(np.tensordot(m, np.moveaxis(y, axis, 0), axes=1), 0, axis)
    return y.astype(np.float32)


def reference(inputs):
    x = inputs["inputT0"]
    return {mode: resize(x, OUT_SHAPE, mode=mode, transform="HALF_PIXEL") for mode in MODES}


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    for mode in MODES:
        layer = network.add_resize(x)
        layer.shape = OUT_SHAPE
        layer.resize_mode = getattr(trt.ResizeMode, mode)
        layer.coordinate_transformation = trt.ResizeCoordinateTransformation.HALF_PIXEL
        print(f"{mode}: resize_mode = {layer.resize_mode}")
        layer.get_output(0).name = mode
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
    add_layers(network, inputs)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    context = engine.create_execution_context()
    return execute(engine, context, inputs)


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
