#!/usr/bin/env python3
"""ElementWiseLayer / Operation: every trt.ElementWiseOperation, on float32, int32 and bool.

- arithmetic on float32: SUM PROD MAX MIN SUB DIV POW FLOOR_DIV (POW on a positive base);
- comparisons EQUAL GREATER LESS on float32 give bool outputs;
- logic AND OR XOR need bool inputs;
- the same arithmetic on int32 (POW is float-only): DIV on int32 rounds toward zero, FLOOR_DIV rounds down.
Outputs are named "<type>_<OP>". `op` can be changed after creation (shown on the last layer).
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
SHAPE = (2, 4)
FLOAT_OPS = ["SUM", "PROD", "MAX", "MIN", "SUB", "DIV", "FLOOR_DIV"]
COMPARE_OPS = ["EQUAL", "GREATER", "LESS"]
LOGIC_OPS = ["AND", "OR", "XOR"]
INT_OPS = ["SUM", "PROD", "MAX", "MIN", "SUB", "DIV", "FLOOR_DIV", "EQUAL", "GREATER", "LESS"]


def make_inputs():
    return {"floatA": np.array([[-3.5, -2, -1, 0], [1, 2.5, 3, 7]], dtype=np.float32),
            "floatB": np.array([[2, -2, 0.5, 3], [1, 2.5, -2, 2]], dtype=np.float32),
            "floatBase": np.array([[0.5, 1, 2, 3], [4, 2.5, 9, 1.5]], dtype=np.float32),
            "intA": np.array([[-7, -6, -1, 0], [1, 5, 6, 7]], dtype=np.int32),
            "intB": np.array([[2, -4, 3, 5], [1, 5, -4, 2]], dtype=np.int32),
            "boolA": np.array([[True, True, False, False], [True, False, True, False]]),
            "boolB": np.array([[True, False, True, False], [False, False, True, True]])}


NUMPY = {"SUM": np.add, "PROD": np.multiply, "MAX": np.maximum, "MIN": np.minimum, "SUB": np.subtract,
         "DIV": np.divide, "POW": np.power, "FLOOR_DIV": lambda a, b: np.floor(a / b),
         "EQUAL": np.equal, "GREATER": np.greater, "LESS": np.less,
         "AND": np.logical_and, "OR": np.logical_or, "XOR": np.logical_xor}


def int_op(op, a, b):
    if op == "DIV":  # integer division rounding toward zero, like C
        return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(np.int32)
    if op == "FLOOR_DIV":
        return np.floor_divide(a, b).astype(np.int32)
    result = NUMPY[op](a, b)
    return result if result.dtype == bool else result.astype(np.int32)


def reference(inputs):
    fa, fb = inputs["floatA"].astype(np.float64), inputs["floatB"].astype(np.float64)
    result = {f"float_{op}": NUMPY[op](fa, fb).astype(np.float32) for op in FLOAT_OPS}
    result["float_POW"] = np.power(inputs["floatBase"].astype(np.float64), fb).astype(np.float32)
    result.update({f"float_{op}": NUMPY[op](fa, fb) for op in COMPARE_OPS})
    result.update({f"bool_{op}": NUMPY[op](inputs["boolA"], inputs["boolB"]) for op in LOGIC_OPS})
    result.update({f"int_{op}": int_op(op, inputs["intA"], inputs["intB"]) for op in INT_OPS})
    result["changed_op"] = np.maximum(inputs["floatA"], inputs["floatB"])
    return result


def add_layers(network, inputs):
    DTYPES = {"f": trt.float32, "i": trt.int32, "b": trt.bool}
    t = {name: network.add_input(name, DTYPES[value.dtype.kind], value.shape)
         for name, value in inputs.items()}
    jobs = [(f"float_{op}", "floatA", "floatB", op) for op in FLOAT_OPS + COMPARE_OPS]
    jobs += [("float_POW", "floatBase", "floatB", "POW")]
    jobs += [(f"bool_{op}", "boolA", "boolB", op) for op in LOGIC_OPS]
    jobs += [(f"int_{op}", "intA", "intB", op) for op in INT_OPS]
    for name, first, second, op in jobs:
        layer = network.add_elementwise(t[first], t[second], getattr(trt.ElementWiseOperation, op))
        print(f"{name:16s} op = {str(layer.op):32s} {t[first].dtype} -> {layer.get_output(0).dtype}")
        layer.get_output(0).name = name
        network.mark_output(layer.get_output(0))
    layer = network.add_elementwise(t["floatA"], t["floatB"], trt.ElementWiseOperation.MIN)
    layer.op = trt.ElementWiseOperation.MAX  # the member can be changed after creation
    print(f"changed_op       op = {layer.op}")
    layer.get_output(0).name = "changed_op"
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
