#!/usr/bin/env python3
"""LoopLayer / ReLURNN: a small RNN written as a loop, h_t = ReLU(x_t @ W + h_(t-1) @ U + b).

The iterator hands the loop one time step x_t [1, 3] of x [4, 1, 3]; the recurrence carries h [1, 4] (initial
value zeros); MatrixMultiply + ElementWise + Activation form the body. Outputs: the last hidden state
(LAST_VALUE) and the hidden state of every step (CONCATENATE). This is how RNNs are built now that IRNNv2Layer is
deprecated. TF32 is disabled so that the FP32 tolerance holds."""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
T, I, H = 4, 3, 4  # time steps, input width, hidden width


def make_weights():
    rng = np.random.default_rng(42)
    w = (rng.standard_normal((I, H)) * 0.5).astype(np.float32)
    u = (rng.standard_normal((H, H)) * 0.5).astype(np.float32)
    b = (rng.standard_normal((1, H)) * 0.1).astype(np.float32)
    return w, u, b


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"inputT0": rng.standard_normal((T, 1, I)).astype(np.float32)}


def reference(inputs):
    w, u, b = (a.astype(np.float64) for a in make_weights())
    h, history = np.zeros((1, H)), []
    for t in range(T):
        h = np.maximum(inputs["inputT0"][t].astype(np.float64) @ w + h @ u + b, 0)
        history.append(h)
    return {"outputT0": h.astype(np.float32), "outputT1": np.stack(history).astype(np.float32)}


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    w, u, b = (network.add_constant(a.shape, a).get_output(0) for a in make_weights())
    loop = network.add_loop()
    count = network.add_constant((), np.array([T], dtype=np.int32)).get_output(0)
    loop.add_trip_limit(count, trt.TripLimit.COUNT)
    x_t = loop.add_iterator(x, 0, False).get_output(0)  # [1, I]
    h0 = network.add_constant((1, H), np.zeros((1, H), dtype=np.float32))
    recurrence = loop.add_recurrence(h0.get_output(0))  # h_(t-1)
    M = trt.MatrixOperation.NONE
    xw = network.add_matrix_multiply(x_t, M, w, M)
    hu = network.add_matrix_multiply(recurrence.get_output(0), M, u, M)
    pre = network.add_elementwise(xw.get_output(0), hu.get_output(0), trt.ElementWiseOperation.SUM)
    pre = network.add_elementwise(pre.get_output(0), b, trt.ElementWiseOperation.SUM)
    h_t = network.add_activation(pre.get_output(0), trt.ActivationType.RELU)
    recurrence.set_input(1, h_t.get_output(0))
    last = loop.add_loop_output(recurrence.get_output(0), trt.LoopOutput.LAST_VALUE)
    every = loop.add_loop_output(h_t.get_output(0), trt.LoopOutput.CONCATENATE, 0)
    every.set_input(1, count)
    print(f"x_t {x_t.shape}, h {recurrence.get_output(0).shape}; outputs {last.get_output(0).shape} and "
          f"{every.get_output(0).shape}")
    last.get_output(0).name = "outputT0"
    every.get_output(0).name = "outputT1"
    network.mark_output(last.get_output(0))
    network.mark_output(every.get_output(0))


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
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 tolerance: no TF32 in the matrix products
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
