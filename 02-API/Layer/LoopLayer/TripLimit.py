#!/usr/bin/env python3
"""LoopLayer / TripLimit: TripLimit.COUNT (a for-loop) and TripLimit.WHILE (a while-loop), both adding 1.

COUNT: the limit is a 0-D INT32 tensor available before the loop (here a constant 4).
WHILE: the limit is a 0-D BOOL tensor computed inside the loop from the recurrence (here max(r) < 3.5); the loop
       stops at the first iteration where it is false.
    r = x;  for _ in range(4): r = r + 1          r = x;  while max(r) < 3.5: r = r + 1
Outputs: LAST_VALUE of r, and CONCATENATE of r, i.e. r at the start of every iteration. CONCATENATE needs its
length before the loop runs: for the WHILE loop the script counts the iterations on the host from the input
(both limits may also be combined on one loop: it stops at whichever comes first)."""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
SHAPE = (2, 3)
TRIP_COUNT = 4
WHILE_LIMIT = 3.5


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"inputT0": rng.uniform(0, 1, SHAPE).astype(np.float32)}


def while_iterations(x):
    """How many times the while-loop body runs for this input."""
    n, r = 0, x.copy()
    while r.max() < WHILE_LIMIT:
        r, n = r + 1, n + 1
    return n


def reference(inputs):
    x = inputs["inputT0"]
    n = while_iterations(x)
    return {"COUNT/lastValue": x + TRIP_COUNT, "COUNT/concatenate": np.stack([x + i for i in range(TRIP_COUNT)]),
            "WHILE/lastValue": x + n, "WHILE/concatenate": np.stack([x + i for i in range(n)])}


def add_plus_one_loop(network, x, kind, length):
    loop = network.add_loop()
    recurrence = loop.add_recurrence(x)
    if kind == "COUNT":
        limit = network.add_constant((), np.array([TRIP_COUNT], dtype=np.int32)).get_output(0)
    else:  # WHILE: max(r) < WHILE_LIMIT, from the recurrence of this loop
        r_max = network.add_reduce(recurrence.get_output(0), trt.ReduceOperation.MAX, (1 << 0) | (1 << 1), False)
        bound = network.add_constant((), np.array([WHILE_LIMIT], dtype=np.float32))
        limit = network.add_elementwise(r_max.get_output(0), bound.get_output(0),
                                        trt.ElementWiseOperation.LESS).get_output(0)
    trip_limit = loop.add_trip_limit(limit, trt.TripLimit.__members__[kind])
    one = network.add_constant((1, 1), np.ones((1, 1), dtype=np.float32))
    body = network.add_elementwise(recurrence.get_output(0), one.get_output(0), trt.ElementWiseOperation.SUM)
    recurrence.set_input(1, body.get_output(0))
    last = loop.add_loop_output(recurrence.get_output(0), trt.LoopOutput.LAST_VALUE)
    stacked = loop.add_loop_output(recurrence.get_output(0), trt.LoopOutput.CONCATENATE, 0)
    stacked.set_input(1, network.add_constant((), np.array([length], dtype=np.int32)).get_output(0))
    print(f"{kind}: trip limit kind = {trip_limit.kind}, limit tensor {limit.dtype} shape {limit.shape}, "
          f"concatenation length {length}")
    for layer, name in ((last, f"{kind}/lastValue"), (stacked, f"{kind}/concatenate")):
        layer.get_output(0).name = name
        network.mark_output(layer.get_output(0))


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    add_plus_one_loop(network, x, "COUNT", TRIP_COUNT)
    add_plus_one_loop(network, x, "WHILE", while_iterations(inputs["inputT0"]))


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
