#!/usr/bin/env python3
"""AssertionLayer / RunTimeFailure: a condition that is false for the shapes given at run time.

Dynamic inputs [-1,4]: the engine builds (the condition depends on run-time shapes). Run 1 uses [2,4] and [2,4]:
the assertion holds and the output is checked against numpy. Run 2 uses [2,4] and [3,4]: the condition is false,
TensorRT reports the assertion's message and no output shape / execution is possible; the check is that run 2
failed (known in advance).
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
MESSAGE = "inputT0 and inputT1 must have the same number of rows"


def make_inputs():
    return {"inputT0": np.arange(8, dtype=np.float32).reshape(2, 4),
            "inputT1": -np.arange(8, dtype=np.float32).reshape(2, 4),
            "badInputT1": np.ones((3, 4), dtype=np.float32)}


def reference(inputs):
    return {"good_run/outputT0": np.concatenate([inputs["inputT0"], inputs["inputT1"]], axis=0),
            "bad_run_failed": np.array(inputs["inputT0"].shape[0] != inputs["badInputT1"].shape[0])}


def add_condition(network, a, b):
    """Boolean shape tensor [1]: inputT0.shape[0] == inputT1.shape[0] (Shape -> Slice -> ElementWise EQUAL)."""
    rows_a = network.add_slice(network.add_shape(a).get_output(0), (0,), (1,), (1,)).get_output(0)
    rows_b = network.add_slice(network.add_shape(b).get_output(0), (0,), (1,), (1,)).get_output(0)
    return network.add_elementwise(rows_a, rows_b, trt.ElementWiseOperation.EQUAL).get_output(0)


def add_layers(network, profile, inputs):
    a = network.add_input("inputT0", trt.float32, (-1, 4))
    b = network.add_input("inputT1", trt.float32, (-1, 4))
    profile.set_shape("inputT0", (1, 4), (2, 4), (4, 4))
    profile.set_shape("inputT1", (1, 4), (2, 4), (4, 4))
    assertion = network.add_assertion(add_condition(network, a, b), MESSAGE)
    print(f"assertion.message = {assertion.message!r}")
    concat = network.add_concatenation([a, b])
    concat.axis = 0
    concat.get_output(0).name = "outputT0"
    network.mark_output(concat.get_output(0))


class CollectingLogger(trt.ILogger):
    """A logger that prints TensorRT's messages and keeps the errors, so the script can show why a build failed."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.errors = []

    def log(self, severity, msg):
        if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR):
            self.errors.append(msg)
            print(f"[TRT] {severity.name}: {msg}")


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_engine(logger):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    profile = builder.create_optimization_profile()
    config = builder.create_builder_config()
    add_layers(network, profile, {})
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


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


def run_bad_shapes(engine, logger, inputs):
    """Set shapes that break the assertion; return True when TensorRT refused them (the expected outcome)."""
    bad = {"inputT0": inputs["inputT0"], "inputT1": inputs["badInputT1"]}
    context = engine.create_execution_context()
    logger.errors.clear()
    ok = context.set_input_shape("inputT0", bad["inputT0"].shape)
    ok = context.set_input_shape("inputT1", bad["inputT1"].shape) and ok
    print(f"set_input_shape returned {ok}")
    try:
        output_shape = tuple(context.get_tensor_shape("outputT0"))  # shape inference evaluates the assertion
        print(f"get_tensor_shape('outputT0') = {output_shape}")
    except Exception as error:  # the binding may raise instead of returning -1 dimensions
        print(f"get_tensor_shape raised: {error}")
        output_shape = None
    failed = (not ok) or output_shape is None or any(d < 0 for d in output_shape) or bool(logger.errors)
    if not failed:  # the shapes looked valid: then the assertion is checked when the engine runs
        try:
            execute(engine, bad)
            failed = bool(logger.errors)
        except Exception as error:
            print(f"running the engine failed: {error}")
            failed = True
    print(f"TensorRT reported {len(logger.errors)} error(s); the message is in the log: "
          f"{any('same number of rows' in m for m in logger.errors)}")
    return failed


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
        print(f"{name} {value.shape}:\n{value}")
    logger = CollectingLogger()
    engine = build_engine(logger)
    expected = reference(inputs)
    print("--- run 1: inputT0 [2,4], inputT1 [2,4]")
    good = execute(engine, {"inputT0": inputs["inputT0"], "inputT1": inputs["inputT1"]})
    print(f"outputT0 {good['outputT0'].shape}:\n{good['outputT0']}")
    outputs = {"good_run/outputT0": good["outputT0"]}
    print("--- run 2: inputT0 [2,4], inputT1 [3,4]")
    outputs["bad_run_failed"] = np.array(run_bad_shapes(engine, logger, inputs))
    passed = True
    for name, want in expected.items():
        passed = check(name, outputs[name], want) and passed
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
