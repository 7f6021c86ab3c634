#!/usr/bin/env python3
"""UnaryLayer / UnaryOperation: every trt.UnaryOperation of TensorRT 8.6, each on inputs inside its domain.

One network, six inputs (general values, positive values, values in (-1, 1), values >= 1, booleans, values with
infinities) and one output per operation. NOT takes and returns BOOL; ISINF returns BOOL (both network outputs get
dtype trt.bool explicitly: see add_layers); ROUND rounds halves to even (like numpy.round); SIGN of 0 is 0."""
import math
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}

# operation -> (input it reads, numpy reference)
OPERATIONS = {
    "EXP": ("general", np.exp), "LOG": ("positive", np.log), "SQRT": ("positive", np.sqrt),
    "RECIP": ("positive", np.reciprocal), "ABS": ("general", np.abs), "NEG": ("general", np.negative),
    "SIN": ("general", np.sin), "COS": ("general", np.cos), "TAN": ("general", np.tan),
    "SINH": ("general", np.sinh), "COSH": ("general", np.cosh), "ASIN": ("unit", np.arcsin),
    "ACOS": ("unit", np.arccos), "ATAN": ("general", np.arctan), "ASINH": ("general", np.arcsinh),
    "ACOSH": ("above_one", np.arccosh), "ATANH": ("unit", np.arctanh), "CEIL": ("general", np.ceil),
    "FLOOR": ("general", np.floor), "ERF": ("general", None), "NOT": ("boolean", np.logical_not),
    "SIGN": ("general", np.sign), "ROUND": ("general", np.round), "ISINF": ("with_inf", np.isinf),
}

BOOL_OUTPUTS = ("NOT", "ISINF")  # the operations whose output is BOOL (every other one keeps its input's type)


def make_inputs():
    return {
        # tan needs |x| < pi / 2; the halves show ROUND's ties-to-even
        "general": np.array([-1.5, -1.2, -0.5, -0.3, 0.0, 0.2, 0.5, 1.0, 1.4, 1.5], dtype=np.float32),
        "positive": np.array([0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 9.0, 16.0, 100.0], dtype=np.float32),  # log, sqrt, recip
        "unit": np.array([-0.99, -0.75, -0.5, -0.25, 0.0, 0.1, 0.3, 0.5, 0.8, 0.95], dtype=np.float32),  # asin, acos, atanh
        "above_one": np.array([1.0, 1.1, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 50.0, 100.0], dtype=np.float32),  # acosh
        "boolean": np.array([True, False, True, True, False, False, True, False, True, False]),
        "with_inf": np.array([-np.inf, -1e30, -1.0, 0.0, 1.0, 1e30, np.inf, 2.0, -np.inf, 3.0], dtype=np.float32),
    }


def erf(x):
    """Gauss error function (numpy has none): math.erf element by element, in float64."""
    return np.array([math.erf(v) for v in np.asarray(x, dtype=np.float64).ravel()]).reshape(np.shape(x))


def reference(inputs):
    result = {}
    for name, (source, function) in OPERATIONS.items():
        x = inputs[source]
        y = erf(x) if name == "ERF" else function(x.astype(np.float64) if x.dtype != np.bool_ else x)
        result[name] = y if y.dtype == np.bool_ else y.astype(np.float32)
    return result


def add_layers(network, inputs):
    tensors = {name: network.add_input(name, trt.bool if value.dtype == np.bool_ else trt.float32, value.shape)
               for name, value in inputs.items()}
    missing = sorted(set(trt.UnaryOperation.__members__) - set(OPERATIONS))
    print(f"{len(OPERATIONS)} operations; trt.UnaryOperation members not covered: {missing}")
    for name, (source, _) in OPERATIONS.items():
        layer = network.add_unary(tensors[source], getattr(trt.UnaryOperation, name))
        output = layer.get_output(0)
        output.name = name
        network.mark_output(output)
        # TensorRT 8.6: a network output is float32 unless its dtype is set; NOT and ISINF produce BOOL, and without
        # this line the build fails with "Output tensor NOT of type Float produced from output of incompatible type Bool"
        output.dtype = trt.bool if name in BOOL_OUTPUTS else trt.float32


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def execute(engine, inputs):
    """Run the engine once on `inputs`; return {output name: numpy array}."""
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device = {}, {}

    def bind(name):  # shape tensors live in host memory, everything else on the GPU
        if engine.get_tensor_location(name) == trt.TensorLocation.HOST:
            context.set_tensor_address(name, host[name].ctypes.data)
        else:
            device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
            context.set_tensor_address(name, device[name])

    for name in input_names:  # inputs first: the output shapes depend on their shapes (and shape-tensor values)
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        context.set_input_shape(name, host[name].shape)
        bind(name)
    for name in output_names:
        shape = tuple(context.get_tensor_shape(name))
        host[name] = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        bind(name)

    stream = check_cuda(cudart.cudaStreamCreate())
    for name in input_names:
        if name in device and host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    for name in output_names:
        if name in device and host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in device.values():
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return {name: host[name] for name in output_names}


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


def compare(name, got, want):
    """Print one output and its check; floats within TOLERANCE, integers and booleans exactly."""
    print(f"{name} {got.shape} {got.dtype}:\n{got}")
    if got.shape != want.shape:
        print(f"check result: False, shape {got.shape} != expected {want.shape}")
        return False
    if want.dtype.kind in "biu":
        ok = bool(np.array_equal(got, want))
        error = float(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64)))) if want.size else 0.0
    else:
        ok = bool(np.allclose(got, want, **TOLERANCE))
        error = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
    print(f"check result: {ok}, max abs error = {error:.3e}")
    return ok


def main():
    np.set_printoptions(precision=4, linewidth=120, suppress=True)
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"{name} {value.shape} {value.dtype}:\n{value}")
    outputs = run_engine(inputs)
    expected = reference(inputs)
    passed = True
    for name, want in expected.items():
        passed = compare(name, outputs[name], want) and passed
    stem = os.path.splitext(os.path.basename(__file__))[0]
    np.savez(stem + ".output.npz", **{name: outputs[name] for name in expected})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
