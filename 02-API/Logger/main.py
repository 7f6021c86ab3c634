#!/usr/bin/env python3
"""02-API/Logger: what the TensorRT logger reports, at each severity, and how to read it from Python.

1. trt.Logger, the logger that ships with TensorRT: its severities and its min_severity member.
2. A custom trt.ILogger subclass that collects messages instead of printing them.
3. The same small network (y = ReLU(x)) built once per severity threshold: how many messages each threshold keeps.
4. Reading the error of a failing build (a dynamic input without an optimization profile) and of a failing
   deserialization (bytes that are not a plan) from the collected messages.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

INPUT_NAME = "inputT0"
OUTPUT_NAME = "outputT0"
SHAPE = (2, 3, 4, 5)
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal(SHAPE).astype(np.float32)}


def reference(inputs):
    return {
        OUTPUT_NAME: np.maximum(inputs[INPUT_NAME], 0).astype(np.float32),
        # the two failures below are known in advance
        "failed_build_returned_none": np.array(True),
        "failed_build_logged_an_error": np.array(True),
        "bad_plan_returned_none": np.array(True),
    }


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class CollectingLogger(trt.ILogger):
    """An ILogger that keeps every message at or above min_severity in a list (optionally echoing it).

    TensorRT calls log() for every message it produces; the logger decides what to keep. Severity values:
    INTERNAL_ERROR = 0 < ERROR = 1 < WARNING = 2 < INFO = 3 < VERBOSE = 4 (smaller = more severe).
    log() may be called from several threads: keep it short and thread-safe (list.append is).
    """

    def __init__(self, min_severity=None, echo=False):
        trt.ILogger.__init__(self)  # required: initialises the C++ side of the interface
        self.min_severity = trt.ILogger.Severity.VERBOSE if min_severity is None else min_severity
        self.echo = echo
        self.messages = []  # [(severity, text)]

    def log(self, severity, msg):
        if int(severity) <= int(self.min_severity):
            self.messages.append((severity, msg))
            if self.echo:
                print(f"[TRT] {severity.name}: {msg}")

    def clear(self):
        self.messages = []

    def texts(self, severity):
        return [m for s, m in self.messages if int(s) == int(severity)]


SEVERITIES = ["VERBOSE", "INFO", "WARNING", "ERROR", "INTERNAL_ERROR"]  # most to least detailed


def build_relu_network(builder, dynamic=False):
    """y = ReLU(x); with dynamic=True the batch dimension is -1 (and needs an optimization profile)."""
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    shape = (-1,) + SHAPE[1:] if dynamic else SHAPE
    x = network.add_input(INPUT_NAME, trt.float32, shape)
    relu = network.add_activation(x, trt.ActivationType.RELU)
    relu.name = "ReLU"
    relu.get_output(0).name = OUTPUT_NAME
    network.mark_output(relu.get_output(0))
    return network


def show_builtin_logger():
    print("=== 1. trt.Logger (the built-in logger)")
    for name in SEVERITIES:
        severity = getattr(trt.Logger, name)
        print(f"trt.Logger.{name:15s} = {severity} (value {int(severity)})")
    logger = trt.Logger(trt.Logger.WARNING)  # prints messages of severity WARNING or more severe
    print(f"trt.Logger(trt.Logger.WARNING).min_severity = {logger.min_severity}")
    logger.min_severity = trt.Logger.ERROR  # can be changed at any time
    print(f"after logger.min_severity = trt.Logger.ERROR: {logger.min_severity}")
    # trt.Logger prints itself (to the console, "[TRT] [E] ..."): a bad plan shows one ERROR message there
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(b"this is not a TensorRT plan")
    print(f"trt.Runtime(trt.Logger(ERROR)).deserialize_cuda_engine(garbage) returned {engine} "
          "(the [TRT] lines just above were printed by trt.Logger itself)")


def count_messages_per_threshold(logger):
    print("\n=== 2./3. The same network built with a CollectingLogger at each threshold")
    for name in SEVERITIES:
        logger.min_severity = getattr(trt.ILogger.Severity, name)
        logger.clear()
        builder = trt.Builder(logger)
        network = build_relu_network(builder)
        config = builder.create_builder_config()
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError("building the ReLU network failed")
        per_severity = {s: len(logger.texts(getattr(trt.ILogger.Severity, s))) for s in SEVERITIES}
        print(f"min_severity = {name:15s}: {len(logger.messages):4d} messages kept  {per_severity}")
        del builder, network, config
    # one example message of each severity, from the last VERBOSE-level build
    logger.min_severity = trt.ILogger.Severity.VERBOSE
    logger.clear()
    builder = trt.Builder(logger)
    network = build_relu_network(builder)
    config = builder.create_builder_config()
    serialized = builder.build_serialized_network(network, config)
    for name in SEVERITIES:
        texts = logger.texts(getattr(trt.ILogger.Severity, name))
        print(f"  e.g. {name:15s}: {texts[0][:110] if texts else '(none in this build)'}")
    return serialized


def show_failures(logger):
    print("\n=== 4. Reading the errors of a failing build and of a failing deserialization")
    logger.min_severity = trt.ILogger.Severity.WARNING
    logger.clear()
    builder = trt.Builder(logger)
    network = build_relu_network(builder, dynamic=True)  # input [-1,3,4,5] ...
    config = builder.create_builder_config()  # ... but no optimization profile is added to the config
    serialized = builder.build_serialized_network(network, config)
    errors = logger.texts(trt.ILogger.Severity.ERROR) + logger.texts(trt.ILogger.Severity.INTERNAL_ERROR)
    print(f"build_serialized_network(dynamic input, no profile) returned {serialized}")
    for text in errors:
        print(f"  collected ERROR: {text}")

    logger.clear()
    runtime = trt.Runtime(logger)
    engine = runtime.deserialize_cuda_engine(b"this is not a TensorRT plan")
    print(f"deserialize_cuda_engine(garbage) returned {engine}")
    for _, text in logger.messages:
        print(f"  collected: {text}")
    return {
        "failed_build_returned_none": np.array(serialized is None),
        "failed_build_logged_an_error": np.array(len(errors) > 0),
        "bad_plan_returned_none": np.array(engine is None),
    }


def run_engine(engine, inputs):
    """Run an engine once: inputs {name: array} -> outputs {name: array}."""
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            context.set_input_shape(name, inputs[name].shape)
    host, device = {}, {}
    for name in names:
        dtype = trt.nptype(engine.get_tensor_dtype(name))
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            host[name] = np.ascontiguousarray(inputs[name], dtype=dtype)
        else:
            host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=dtype)
        device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
        context.set_tensor_address(name, device[name])
    stream = check_cuda(cudart.cudaStreamCreate())
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    outputs = {}
    for name in names:
        if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
            outputs[name] = host[name]
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for name in names:
        check_cuda(cudart.cudaFree(device[name]))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return outputs


def main():
    show_builtin_logger()
    logger = CollectingLogger()
    serialized = count_messages_per_threshold(logger)
    failures = show_failures(logger)

    print("\n=== Running the ReLU engine")
    logger.min_severity = trt.ILogger.Severity.ERROR
    logger.echo = True  # from now on print what is kept, like trt.Logger(trt.Logger.ERROR) would
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the ReLU engine failed")
    inputs = make_inputs()
    outputs = run_engine(engine, inputs)
    expected = reference(inputs)

    passed = True
    err = float(np.max(np.abs(outputs[OUTPUT_NAME] - expected[OUTPUT_NAME])))
    ok = bool(np.allclose(outputs[OUTPUT_NAME], expected[OUTPUT_NAME], **TOLERANCE))
    print(f"check result: {ok}, max abs error = {err:.3e}")
    passed &= ok
    for key, value in failures.items():
        ok = bool(value == expected[key])
        print(f"check result: {ok}, {key} = {bool(value)} (expected {bool(expected[key])})")
        passed &= ok
    outputs.update(failures)
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
