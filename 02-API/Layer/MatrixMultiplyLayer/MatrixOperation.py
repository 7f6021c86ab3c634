#!/usr/bin/env python3
"""MatrixMultiplyLayer / MatrixOperation: op0 / op1 = NONE, TRANSPOSE or VECTOR.

  NONE       the last two dimensions are a matrix
  TRANSPOSE  the last two dimensions are a matrix, transposed before multiplying
  VECTOR     the last dimension is a vector (matrix-vector, vector-matrix and vector-vector products); the leading
             dimensions are batch dimensions
Cases (A, B are network inputs):
  TRANSPOSE x NONE    A [3, 2]      -> A.T @ B      B [3, 4]   -> [2, 4]
  NONE x TRANSPOSE    A [2, 3]      -> A @ B.T      B [4, 3]   -> [2, 4]
  NONE x VECTOR       A [2, 3] @ v [3]                         -> [2]      matrix-vector
  VECTOR x NONE       v [3] @ B [3, 4]                         -> [4]      vector-matrix
  VECTOR x VECTOR     v [3] . w [3]                            -> []       dot product (0-D output)
  NONE x VECTOR       A [2, 2, 3] @ v [2, 3] (batch of 2)      -> [2, 2]   batched matrix-vector"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
CASES = (  # key, (input0 name, op0), (input1 name, op1)
    ("TRANSPOSE_NONE", ("a32", "TRANSPOSE"), ("b34", "NONE")),
    ("NONE_TRANSPOSE", ("a23", "NONE"), ("b43", "TRANSPOSE")),
    ("NONE_VECTOR", ("a23", "NONE"), ("v3", "VECTOR")),
    ("VECTOR_NONE", ("v3", "VECTOR"), ("b34", "NONE")),
    ("VECTOR_VECTOR", ("v3", "VECTOR"), ("w3", "VECTOR")),
    ("NONE_VECTOR_batched", ("a223", "NONE"), ("v23", "VECTOR")),
)


def make_inputs():
    rng = np.random.default_rng(31193)
    shapes = {"a32": (3, 2), "a23": (2, 3), "a223": (2, 2, 3), "b34": (3, 4), "b43": (4, 3), "v3": (3,),
              "w3": (3,), "v23": (2, 3)}
    return {name: rng.uniform(-1, 1, shape).astype(np.float32) for name, shape in shapes.items()}


def reference(inputs):
    d = {name: value.astype(np.float64) for name, value in inputs.items()}
    result = {"TRANSPOSE_NONE": d["a32"].T @ d["b34"], "NONE_TRANSPOSE": d["a23"] @ d["b43"].T,
              "NONE_VECTOR": d["a23"] @ d["v3"], "VECTOR_NONE": d["v3"] @ d["b34"],
              "VECTOR_VECTOR": np.array(d["v3"] @ d["w3"]),
              "NONE_VECTOR_batched": np.einsum("bij,bj->bi", d["a223"], d["v23"])}
    return {f"{key}/outputT0": value.astype(np.float32) for key, value in result.items()}


def add_layers(network, inputs):
    tensors = {name: network.add_input(name, trt.float32, value.shape) for name, value in inputs.items()}
    for key, (name0, op0), (name1, op1) in CASES:
        layer = network.add_matrix_multiply(tensors[name0], trt.MatrixOperation.__members__[op0],
                                            tensors[name1], trt.MatrixOperation.__members__[op1])
        print(f"{name0} {inputs[name0].shape} {layer.op0} x {name1} {inputs[name1].shape} {layer.op1} -> "
              f"{layer.get_output(0).shape}")
        layer.get_output(0).name = f"{key}/outputT0"
        network.mark_output(layer.get_output(0))


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
    expected = reference(inputs)
    passed = True
    for name, value in expected.items():
        print(f"{name} {outputs[name].shape} {outputs[name].dtype}:\n{outputs[name]}")
        passed = check(name, outputs[name], value) and passed
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **{k: outputs[k] for k in expected})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
