#!/usr/bin/env python3
"""IfConditionalLayer / SimpleExample: y = x * 2 if sum(x) > 0 else -x, decided at run time from the data.

add_if_conditional() returns an IIfConditional; set_condition() takes a 0-D BOOL tensor, add_input() brings a
tensor into the conditional, add_output(true_tensor, false_tensor) makes the output. The engine is built once and
run twice: once with an input whose sum is positive (true branch), once with a negative one (false branch).
make_inputs() returns one input set per case ("caseTrue/inputT0", "caseFalse/inputT0")."""
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


def make_inputs():
    x = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) - 2  # sum 3 > 0
    return {"caseTrue/inputT0": x, "caseFalse/inputT0": x - 3}  # one input set per case; sum(x - 3) = -15


def reference(inputs):
    result = {}
    for case in ("caseTrue", "caseFalse"):
        x = inputs[f"{case}/inputT0"]
        result[f"{case}/outputT0"] = x * 2 if x.sum() > 0 else -x
    return result


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    # condition (outside the conditional): sum(x) > 0 as a 0-D BOOL tensor
    total = network.add_reduce(x, trt.ReduceOperation.SUM, (1 << 0) | (1 << 1), keep_dims=False)  # shape ()
    zero = network.add_constant((), np.zeros(1, dtype=np.float32))
    greater = network.add_elementwise(total.get_output(0), zero.get_output(0), trt.ElementWiseOperation.GREATER)
    conditional = network.add_if_conditional()
    conditional.name = "IfSumPositive"
    condition_layer = conditional.set_condition(greater.get_output(0))
    input_layer = conditional.add_input(x)  # x as seen inside the branches
    print(f"set_condition -> {condition_layer.type}, add_input -> {input_layer.type}, "
          f"condition shape {greater.get_output(0).shape} dtype {greater.get_output(0).dtype}")
    # true branch: x * 2
    two = network.add_constant((1, 1), np.full((1, 1), 2, dtype=np.float32))
    true_branch = network.add_elementwise(input_layer.get_output(0), two.get_output(0), trt.ElementWiseOperation.PROD)
    # false branch: -x
    false_branch = network.add_unary(input_layer.get_output(0), trt.UnaryOperation.NEG)
    output_layer = conditional.add_output(true_branch.get_output(0), false_branch.get_output(0))
    print(f"add_output -> {output_layer.type}, output shape {output_layer.get_output(0).shape}")
    output_layer.get_output(0).name = "outputT0"
    network.mark_output(output_layer.get_output(0))


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


def split_cases(inputs):
    """{"case/tensor name": array} -> {case: {tensor name: array}}."""
    cases = {}
    for key, value in inputs.items():
        case, name = key.split("/")
        cases.setdefault(case, {})[name] = value
    return cases


def run_engine(inputs):
    """Build the network once, run it once per case, return {"case/output name": numpy array}."""
    cases = split_cases(inputs)
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    add_layers(network, next(iter(cases.values())))
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
    stream = check_cuda(cudart.cudaStreamCreate())
    results = {}
    for case, case_inputs in cases.items():  # the same engine and context for every case
        host, device = {}, {}
        for name in input_names:
            host[name] = np.ascontiguousarray(case_inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
            context.set_input_shape(name, host[name].shape)
        for name in output_names:
            host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=trt.nptype(engine.get_tensor_dtype(name)))
        for name in names:
            device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
            context.set_tensor_address(name, device[name])
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
        results.update({f"{case}/{name}": host[name] for name in output_names})
    check_cuda(cudart.cudaStreamDestroy(stream))
    return results


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
