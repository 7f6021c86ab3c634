#!/usr/bin/env python3
"""02-API/ErrorRecorder: collect TensorRT's errors in an object of your own instead of reading the log.

A trt.IErrorRecorder subclass stores what TensorRT reports through report_error(code, description) and answers
num_errors(), get_error_code(i), get_error_desc(i), has_overflowed() and clear(). It is attached with
.error_recorder = ... to a Builder (the networks it creates inherit it), a Runtime (its engines inherit it),
an engine, an execution context (or a Refitter / EngineInspector). This script provokes:
  build time: a network with a dynamic input but no optimization profile -> build_serialized_network is None
  run time:   runtime.deserialize_cuda_engine(garbage) -> None
              context.set_input_shape with a shape outside the optimization profile -> False
and prints what the recorder caught (and what reached the logger), then builds and runs the fixed network.
"""
import os
import sys
import threading

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

INPUT_NAME = "inputT0"
OUTPUT_NAME = "outputT0"
SHAPE = (3, 4)  # the shape we run: batch dimension dynamic, profile 1..4
BAD_SHAPE = (8, 4)  # outside the profile
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    return {INPUT_NAME: np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) - 5}


def reference(inputs):
    """y = |x| + 1; every provoked error is known in advance to happen."""
    return {OUTPUT_NAME: (np.abs(inputs[INPUT_NAME]) + 1).astype(np.float32),
            "build_failed": np.array(True),
            "deserialize_failed": np.array(True),
            "set_input_shape_failed": np.array(True)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class CollectingLogger(trt.ILogger):
    """Keeps WARNING and worse, so that we can see what reached the logger rather than the recorder."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if severity <= trt.ILogger.Severity.WARNING:
            self.messages.append(f"{severity.name}: {msg}")


class MyErrorRecorder(trt.IErrorRecorder):
    """Stores up to MAX_ERRORS (code, description) pairs; TensorRT may call it from several threads."""

    MAX_ERRORS = 16

    def __init__(self):
        trt.IErrorRecorder.__init__(self)  # the base class must be initialised explicitly
        self.errors = []
        self.overflowed = False
        self.lock = threading.Lock()

    def report_error(self, val, desc):  # val: trt.ErrorCodeTRT, desc: str
        with self.lock:
            print(f"  report_error({val}, {desc!r})")
            if len(self.errors) < self.MAX_ERRORS:
                self.errors.append((val, desc))
            else:
                self.overflowed = True
        return False  # False: not fatal, TensorRT may carry on where it can

    def num_errors(self):
        with self.lock:
            return len(self.errors)

    get_num_errors = num_errors  # the name TensorRT 8.6's Python bindings call internally

    def get_error_code(self, error_idx):
        with self.lock:
            return self.errors[error_idx][0]

    def get_error_desc(self, error_idx):
        with self.lock:
            return self.errors[error_idx][1]

    def has_overflowed(self):
        with self.lock:
            return self.overflowed

    def clear(self):
        with self.lock:
            self.errors = []
            self.overflowed = False

    def print_errors(self, title):
        print(f"{title}: num_errors() = {self.num_errors()}, has_overflowed() = {self.has_overflowed()}")
        for i in range(self.num_errors()):
            print(f"  [{i}] get_error_code = {self.get_error_code(i)}, get_error_desc = {self.get_error_desc(i)!r}")


def build(builder, with_profile):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    print(f"network.error_recorder inherited from the builder: {network.error_recorder is not None}")
    config = builder.create_builder_config()
    x = network.add_input(INPUT_NAME, trt.float32, (-1, SHAPE[1]))
    if with_profile:
        profile = builder.create_optimization_profile()
        profile.set_shape(INPUT_NAME, (1, SHAPE[1]), SHAPE, (4, SHAPE[1]))
        config.add_optimization_profile(profile)
    absolute = network.add_unary(x, trt.UnaryOperation.ABS)
    one = network.add_constant((1, 1), np.ones((1, 1), dtype=np.float32))
    add = network.add_elementwise(absolute.get_output(0), one.get_output(0), trt.ElementWiseOperation.SUM)
    add.get_output(0).name = OUTPUT_NAME
    network.mark_output(add.get_output(0))
    return builder.build_serialized_network(network, config)


def infer(context, x):
    out = np.empty(tuple(context.get_tensor_shape(OUTPUT_NAME)), dtype=np.float32)
    d_in = check_cuda(cudart.cudaMalloc(x.nbytes))
    d_out = check_cuda(cudart.cudaMalloc(out.nbytes))
    context.set_tensor_address(INPUT_NAME, d_in)
    context.set_tensor_address(OUTPUT_NAME, d_out)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(d_in, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                      stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(out.ctypes.data, d_out, out.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    check_cuda(cudart.cudaStreamDestroy(stream))
    check_cuda(cudart.cudaFree(d_in))
    check_cuda(cudart.cudaFree(d_out))
    return out


def main():
    logger = CollectingLogger()
    recorder = MyErrorRecorder()
    results = {}

    print("=== build time: a dynamic input without an optimization profile")
    builder = trt.Builder(logger)
    print(f"builder.error_recorder before: {builder.error_recorder}")
    builder.error_recorder = recorder
    print(f"builder.error_recorder after: {type(builder.error_recorder).__name__}")
    plan = build(builder, with_profile=False)
    results["build_failed"] = np.array(plan is None)
    print(f"build_serialized_network returned {'None' if plan is None else 'an engine'}")
    recorder.print_errors("recorder after the failed build")
    print(f"logger got {len(logger.messages)} messages: {logger.messages[-3:]}")
    recorder.clear()
    logger.messages.clear()
    print(f"after recorder.clear(): num_errors() = {recorder.num_errors()}")

    print("\n=== the same network with an optimization profile builds")
    plan = build(builder, with_profile=True)
    if plan is None:
        raise RuntimeError("building the fixed network failed")
    recorder.print_errors("recorder after the good build")

    print("\n=== run time: deserializing garbage")
    runtime = trt.Runtime(logger)
    runtime.error_recorder = recorder  # engines deserialized by this runtime inherit it
    bad_engine = runtime.deserialize_cuda_engine(b"this is not a TensorRT plan" * 4)
    results["deserialize_failed"] = np.array(bad_engine is None)
    print(f"deserialize_cuda_engine returned {'None' if bad_engine is None else 'an engine'}")
    recorder.print_errors("recorder after the failed deserialization")
    recorder.clear()

    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise RuntimeError("deserializing the good engine failed")
    print(f"engine.error_recorder inherited from the runtime: {engine.error_recorder is not None}")
    context = engine.create_execution_context()
    context.error_recorder = recorder  # set explicitly (it would also inherit it from the engine)
    print(f"context.error_recorder: {type(context.error_recorder).__name__}")

    print(f"\n=== run time: set_input_shape({BAD_SHAPE}) outside the profile "
          f"{[tuple(s) for s in engine.get_tensor_profile_shape(INPUT_NAME, 0)]}")
    logger.messages.clear()
    accepted = context.set_input_shape(INPUT_NAME, BAD_SHAPE)
    results["set_input_shape_failed"] = np.array(not accepted)
    print(f"set_input_shape returned {accepted}")
    recorder.print_errors("recorder after the bad set_input_shape")
    print(f"logger got {len(logger.messages)} messages: {logger.messages[-3:]}")
    recorder.clear()

    print(f"\n=== run time: a good shape {SHAPE}")
    inputs = make_inputs()
    if not context.set_input_shape(INPUT_NAME, SHAPE):
        raise RuntimeError("set_input_shape with a good shape failed")
    out = infer(context, inputs[INPUT_NAME])
    recorder.print_errors("recorder after the good run")
    results[OUTPUT_NAME] = out

    expected = reference(inputs)
    passed = True
    for key in ("build_failed", "deserialize_failed", "set_input_shape_failed"):
        ok = bool(results[key]) == bool(expected[key])
        print(f"check result: {ok}, {key} = {bool(results[key])} (expected {bool(expected[key])})")
        passed = passed and ok
    max_error = float(np.max(np.abs(out - expected[OUTPUT_NAME])))
    ok = bool(np.allclose(out, expected[OUTPUT_NAME], **TOLERANCE))
    print(f"check result: {ok}, max abs error = {max_error:.3e}")
    passed = passed and ok
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **results)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
