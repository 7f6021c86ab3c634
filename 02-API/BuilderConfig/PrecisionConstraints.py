#!/usr/bin/env python3
"""02-API/BuilderConfig/PrecisionConstraints.py: layer.precision / layer.set_output_type with
BuilderFlag.OBEY_PRECISION_CONSTRAINTS and BuilderFlag.PREFER_PRECISION_CONSTRAINTS.

Network: y = ReLU(x @ W1 + b1) @ W2, FP16 allowed, TF32 cleared.
1. no constraint: TensorRT picks, per layer, whichever of FP32 / FP16 is faster (FP16 is allowed, not forced)
2. every computing layer constrained to FP16 + OBEY: FP16-sized error
3. every computing layer constrained to FP32 + OBEY: FP32-sized error (this output is saved and checked)
4. the FP32 constraints + PREFER: same here (PREFER only differs when a constraint cannot be met)
5. a constraint that cannot be met (INT8 allowed, every tensor has a dynamic range except the ReLU output, and
   the ReLU is constrained to INT8): OBEY vs PREFER, with the messages
Without either flag (TensorRT 8.6), layer.precision is only a hint that the builder may ignore.
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
M, K, HIDDEN, N = 256, 512, 512, 16  # large enough that FP16 kernels are faster than FP32 ones
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # the saved output comes from the engine constrained to FP32


def make_weights():
    rng = np.random.default_rng(97)
    return {
        "w1": (rng.standard_normal((K, HIDDEN)) / np.sqrt(K)).astype(np.float32),
        "b1": (rng.standard_normal((1, HIDDEN)) * 0.1).astype(np.float32),
        "w2": (rng.standard_normal((HIDDEN, N)) / np.sqrt(HIDDEN)).astype(np.float32),
    }


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal((M, K)).astype(np.float32)}


def reference(inputs):
    p = {k: v.astype(np.float64) for k, v in make_weights().items()}
    h = np.maximum(inputs[INPUT_NAME].astype(np.float64) @ p["w1"] + p["b1"], 0)
    return {OUTPUT_NAME: (h @ p["w2"]).astype(np.float32)}


class CollectingLogger(trt.ILogger):
    """Keeps messages at or above min_severity (see 02-API/Logger)."""

    def __init__(self, min_severity=None):
        trt.ILogger.__init__(self)
        self.min_severity = trt.ILogger.Severity.WARNING if min_severity is None else min_severity
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(self.min_severity):
            self.messages.append((severity, msg))

    def take(self):
        messages, self.messages = self.messages, []
        return messages


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_network(builder, weights):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    x = network.add_input(INPUT_NAME, trt.float32, (M, K))
    w1 = network.add_constant((K, HIDDEN), trt.Weights(weights["w1"]))
    b1 = network.add_constant((1, HIDDEN), trt.Weights(weights["b1"]))
    w2 = network.add_constant((HIDDEN, N), trt.Weights(weights["w2"]))
    mm1 = network.add_matrix_multiply(x, trt.MatrixOperation.NONE, w1.get_output(0), trt.MatrixOperation.NONE)
    mm1.name = "MatMul1"
    add = network.add_elementwise(mm1.get_output(0), b1.get_output(0), trt.ElementWiseOperation.SUM)
    add.name = "AddBias"
    relu = network.add_activation(add.get_output(0), trt.ActivationType.RELU)
    relu.name = "ReLU"
    mm2 = network.add_matrix_multiply(relu.get_output(0), trt.MatrixOperation.NONE, w2.get_output(0),
                                      trt.MatrixOperation.NONE)
    mm2.name = "MatMul2"
    mm2.get_output(0).name = OUTPUT_NAME
    network.mark_output(mm2.get_output(0))
    return network, [mm1, add, relu, mm2]


def set_constraints(layers, precision):
    """precision None: remove every constraint; else set layer.precision and the output type of each layer."""
    for layer in layers:
        if precision is None:
            layer.reset_precision()
            layer.reset_output_type(0)
        else:
            layer.precision = precision
            layer.set_output_type(0, precision)


def build(builder, network, flags, runtime, logger, label):
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    for flag in flags:
        config.set_flag(flag)
    logger.take()
    serialized = builder.build_serialized_network(network, config)
    messages = logger.take()
    print(f"=== {label}: {'build FAILED' if serialized is None else f'plan of {serialized.nbytes} bytes'}")
    for severity, text in messages:
        print(f"  [{severity.name}] {text[:250]}")
    if serialized is None:
        return None
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    inspector = engine.create_engine_inspector()
    for i in range(engine.num_layers):
        print(f"  layer {i}: {inspector.get_layer_information(i, trt.LayerInformationFormat.ONELINE).strip()[:200]}")
    return engine


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
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    runtime = trt.Runtime(logger)
    weights = make_weights()
    network, layers = build_network(builder, weights)
    inputs = make_inputs()
    expected = reference(inputs)[OUTPUT_NAME]
    fp16, obey, prefer = trt.BuilderFlag.FP16, trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS, \
        trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS

    layer = layers[0]
    print(f"default: {layer.name}.precision = {layer.precision}, precision_is_set = {layer.precision_is_set}, "
          f"output_type_is_set(0) = {layer.output_type_is_set(0)}, get_output_type(0) = {layer.get_output_type(0)}")
    engine = build(builder, network, [fp16], runtime, logger, "1. FP16 allowed, no constraint")
    y = run_engine(engine, inputs)[OUTPUT_NAME]
    print(f"  max abs error = {np.max(np.abs(y - expected)):.3e}")

    set_constraints(layers, trt.float16)
    engine = build(builder, network, [fp16, obey], runtime, logger, "2. FP16 allowed, all layers FP16, OBEY")
    y = run_engine(engine, inputs)[OUTPUT_NAME]
    print(f"  max abs error = {np.max(np.abs(y - expected)):.3e}")

    set_constraints(layers, trt.float32)
    print(f"after layer.precision = trt.float32 and set_output_type(0, trt.float32): precision = "
          f"{layer.precision}, precision_is_set = {layer.precision_is_set}, "
          f"output_type_is_set(0) = {layer.output_type_is_set(0)}")
    engine = build(builder, network, [fp16, obey], runtime, logger, "3. FP16 allowed, all layers FP32, OBEY")
    outputs = run_engine(engine, inputs)
    obey_error = float(np.max(np.abs(outputs[OUTPUT_NAME] - expected)))
    print(f"  max abs error = {obey_error:.3e}")
    engine = build(builder, network, [fp16, prefer], runtime, logger, "4. FP16 allowed, all layers FP32, PREFER")
    y = run_engine(engine, inputs)[OUTPUT_NAME]
    print(f"  max abs error = {np.max(np.abs(y - expected)):.3e}")

    set_constraints(layers, None)
    relu_output = layers[2].get_output(0).name
    for i in range(network.num_layers):  # INT8 scales for every tensor but the ReLU's output
        layer = network.get_layer(i)
        for tensor in [layer.get_input(j) for j in range(layer.num_inputs)] + [layer.get_output(0)]:
            if tensor is not None and tensor.name != relu_output:
                tensor.set_dynamic_range(-8.0, 8.0)
    layers[2].precision = trt.int8
    for flag, name in ((obey, "OBEY"), (prefer, "PREFER")):
        engine = build(builder, network, [trt.BuilderFlag.INT8, flag], runtime, logger,
                       f"5. INT8 allowed, ReLU constrained to INT8, its output has no scale, {name}")
        if engine is not None:
            y = run_engine(engine, inputs)[OUTPUT_NAME]
            print(f"  max abs error = {np.max(np.abs(y - expected)):.3e}")

    ok = bool(np.allclose(outputs[OUTPUT_NAME], expected, **TOLERANCE))
    print(f"check result: {ok}, FP32-constrained engine (OBEY): max abs error = {obey_error:.3e}")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
