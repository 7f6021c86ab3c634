#!/usr/bin/env python3
"""FillLayer / RandomNormal: RANDOM_NORMAL with static shape, mean (alpha) and standard deviation (beta).

add_fill((64, 64), trt.FillOperation.RANDOM_NORMAL), alpha = 1 (mean), beta = 2 (standard deviation).
Checks: sample mean within 0.15 of 1 and sample standard deviation within 0.15 of 2 (4096 samples: the
standard errors are 0.031 and 0.022), and about 68% of the values within one standard deviation.

Random values cannot be compared one by one with numpy, so the script checks (and saves) the output shape and
booleans for the statistics; reference() returns the same, known in advance. The generator's state is shared
across calls, so two runs may give different numbers.
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
SHAPE, MEAN, STD = (64, 64), 1.0, 2.0


def make_inputs():
    return {}


def statistics(values):
    """What can be checked of random values: their shape, mean, standard deviation and spread."""
    within_one_std = float(np.mean(np.abs(values - MEAN) < STD))
    return {"shape": np.array(values.shape, dtype=np.int32),
            "mean_ok": np.array(bool(abs(values.mean() - MEAN) < 0.15)),
            "std_ok": np.array(bool(abs(values.std() - STD) < 0.15)),
            "one_std_ok": np.array(bool(abs(within_one_std - 0.6827) < 0.03))}


def reference(inputs):
    return {"shape": np.array(SHAPE, dtype=np.int32), "mean_ok": np.array(True), "std_ok": np.array(True),
            "one_std_ok": np.array(True)}


def add_layers(network, inputs):
    layer = network.add_fill(SHAPE, trt.FillOperation.RANDOM_NORMAL)
    layer.alpha = MEAN
    layer.beta = STD
    print(f"operation = {layer.operation}, shape = {layer.shape}, alpha (mean) = {layer.alpha}, "
          f"beta (standard deviation) = {layer.beta}")
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
        if -1 in tuple(engine.get_tensor_shape(name)):  # only dynamic inputs need a shape; 8.6.0 rejects () for 0-d
            context.set_input_shape(name, host[name].shape)
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
    values = run_engine(inputs)["outputT0"]
    print(f"outputT0 {values.shape} {values.dtype}, first 8 values: {values.ravel()[:8]}")
    print(f"min = {values.min():.4f}, max = {values.max():.4f}, mean = {values.mean():.4f}, std = {values.std():.4f}")
    outputs = statistics(values)
    expected = reference(inputs)
    passed = True
    for name, want in expected.items():
        passed = check(name, outputs[name], want) and passed
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
