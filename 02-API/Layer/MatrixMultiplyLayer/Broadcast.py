#!/usr/bin/env python3
"""MatrixMultiplyLayer / Broadcast: batch dimensions of size 1 are broadcast; ranks must match.

  A [2, 1, 3, 4] @ B [1, 5, 4, 2] -> [2, 5, 3, 2]   (each batch dimension of size 1 is repeated)
  A [2, 1, 3, 4] @ C [1, 1, 4, 2] -> [2, 1, 3, 2]   (one matrix for every batch)
  A [2, 3, 4]    @ D [4, 2]       -> refused: TensorRT 8.6 needs the same number of batch dimensions on both
                                     sides (numpy would broadcast it); reshape D to [1, 4, 2] first"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"inputA": rng.uniform(-1, 1, (2, 1, 3, 4)).astype(np.float32),
            "inputB": rng.uniform(-1, 1, (1, 5, 4, 2)).astype(np.float32),
            "inputC": rng.uniform(-1, 1, (1, 1, 4, 2)).astype(np.float32)}


def reference(inputs):
    a, b, c = (inputs[n].astype(np.float64) for n in ("inputA", "inputB", "inputC"))
    return {"AB/outputT0": (a @ b).astype(np.float32), "AC/outputT0": (a @ c).astype(np.float32),
            "rankMismatch/refused": np.array(True)}  # known in advance


def add_layers(network, inputs):
    t = {name: network.add_input(name, trt.float32, value.shape) for name, value in inputs.items()}
    M = trt.MatrixOperation.NONE
    for key, other in (("AB", "inputB"), ("AC", "inputC")):
        layer = network.add_matrix_multiply(t["inputA"], M, t[other], M)
        print(f"inputA {inputs['inputA'].shape} @ {other} {inputs[other].shape} -> {layer.get_output(0).shape}")
        layer.get_output(0).name = f"{key}/outputT0"
        network.mark_output(layer.get_output(0))


def try_rank_mismatch():
    """[2, 3, 4] @ [4, 2]: return True when TensorRT refuses it."""
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    a = network.add_input("inputA", trt.float32, (2, 3, 4))
    d = network.add_constant((4, 2), np.ones((4, 2), dtype=np.float32))
    layer = network.add_matrix_multiply(a, trt.MatrixOperation.NONE, d.get_output(0), trt.MatrixOperation.NONE)
    if layer is None:
        refused = True
        print("add_matrix_multiply([2, 3, 4], [4, 2]) returned None")
    else:
        layer.get_output(0).name = "outputT0"
        network.mark_output(layer.get_output(0))
        config = builder.create_builder_config()
        config.clear_flag(trt.BuilderFlag.TF32)
        refused = builder.build_serialized_network(network, config) is None
        print(f"add_matrix_multiply([2, 3, 4], [4, 2]) created a layer; building {'failed' if refused else 'worked'}")
    for message in logger.errors:
        print(f"  TensorRT error: {message}")
    return refused


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class CollectingLogger(trt.ILogger):
    """A logger that keeps TensorRT's error messages, so that the script can print why something was refused."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.errors = []

    def log(self, severity, msg):
        if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
            self.errors.append(msg)


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
    config.clear_flag(trt.BuilderFlag.TF32)  # TF32 (on by default on Ampere and newer) would give ~1e-3 errors
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
    outputs["rankMismatch/refused"] = np.array(try_rank_mismatch())
    expected = reference(inputs)
    passed = True
    for name, value in expected.items():
        print(f"{name} {outputs[name].shape} {outputs[name].dtype}:\n{outputs[name]}")
        passed = check(name, outputs[name], value) and passed
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **{k: outputs[k] for k in expected})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
