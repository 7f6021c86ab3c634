#!/usr/bin/env python3
"""02-API/Refit: change the weights of a built engine with trt.Refitter, without building it again.

Network (static shape): x [1,2,5,5] -> Convolution "Conv" (3 maps, 3x3, padding 1; kernel + bias) -> ReLU
-> MatMul with a Constant "FCWeight" [1,1,5,4] -> y [1,3,5,4].
The weights get names with network.set_weights_name(): "conv.weight", "conv.bias", "fc.weight".
1. Build with BuilderFlag.REFIT (engine.refittable: True; without the flag: False). Run: the old weights' result.
2. Refitter: get_all() (layer names + WeightsRole), get_all_weights() (weight names), max_threads.
3. set_weights("Conv", KERNEL, ...) alone: get_missing() / get_missing_weights() name the bias that goes with
   it, and refit_cuda_engine() returns False with the error in the log.
4. set_named_weights() with a wrong element count (7 values for the 20 of "fc.weight") is NOT rejected in
   TensorRT 8.6: it returns True, nothing is logged (seen on an H100). An unknown name is rejected (False + error).
5. set_named_weights("conv.bias", ...) and "fc.weight" with too MANY values (30), then refit_cuda_engine(): the
   script prints whether TensorRT notices the size at refit time (printed, not checked; on an H100 with 8.6.0
   refit_cuda_engine() returned False with "Assertion newWeights.count() == original.count() failed").
   Too many, not too few: with too few values TensorRT could read past the end of the array.
6. set_named_weights() of all three weights with the right sizes: nothing is missing, refit_cuda_engine() returns
   True. Run again: the new weights' result.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

INPUT_NAME = "x"
OUTPUT_NAME = "y"
SHAPE = (1, 2, 5, 5)
MAPS = 3
FC_OUT = 4
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 with TF32 cleared


def make_weights(seed):
    """One set of weights: conv kernel [3,2,3,3], conv bias [3], fc weight [1,1,5,4]."""
    rng = np.random.default_rng(seed)
    return {
        "conv.weight": rng.standard_normal((MAPS, SHAPE[1], 3, 3)).astype(np.float32),
        "conv.bias": rng.standard_normal(MAPS).astype(np.float32),
        "fc.weight": rng.standard_normal((1, 1, SHAPE[3], FC_OUT)).astype(np.float32),
    }


OLD_SEED, NEW_SEED = 1, 2  # the engine is built with make_weights(OLD_SEED) and refitted with make_weights(NEW_SEED)


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal(SHAPE).astype(np.float32)}


def forward(x, weights):
    """numpy (float64) version of the network."""
    kernel, bias = weights["conv.weight"].astype(np.float64), weights["conv.bias"].astype(np.float64)
    n, c, h, w = x.shape
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((n, kernel.shape[0], h, w))
    for i in range(3):
        for j in range(3):
            conv += np.einsum("nchw,kc->nkhw", padded[:, :, i:i + h, j:j + w], kernel[:, :, i, j])
    relu = np.maximum(conv + bias[None, :, None, None], 0)
    return (relu @ weights["fc.weight"].astype(np.float64)).astype(np.float32)


def reference(inputs):
    x = inputs[INPUT_NAME]
    return {
        "y_before_refit": forward(x, make_weights(OLD_SEED)),
        "y_after_refit": forward(x, make_weights(NEW_SEED)),
        # known in advance
        "refit_with_missing_bias_failed": np.array(True),
        "wrong_size_accepted_by_setter": np.array(True),  # TensorRT 8.6 does not check the count at set time
        "unknown_name_rejected": np.array(True),
        "refit_succeeded": np.array(True),
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
    """Keeps the messages at WARNING or more severe (INTERNAL_ERROR = 0 < ERROR = 1 < WARNING = 2 < INFO = 3)."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(trt.ILogger.Severity.WARNING):
            self.messages.append((severity, msg))

    def take(self):
        messages, self.messages = self.messages, []
        return messages


def print_messages(messages, indent="    "):
    for severity, msg in messages:
        print(f"{indent}[TRT] {severity.name}: {msg}")


def build_engine(builder, runtime, weights, refit):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 convolution and matrix multiply
    if refit:
        config.set_flag(trt.BuilderFlag.REFIT)

    x = network.add_input(INPUT_NAME, trt.float32, SHAPE)
    conv = network.add_convolution_nd(x, MAPS, (3, 3), weights["conv.weight"], weights["conv.bias"])
    conv.padding_nd = (1, 1)
    conv.name = "Conv"
    relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    relu.name = "ReLU"
    fc_weight = network.add_constant(weights["fc.weight"].shape, weights["fc.weight"])
    fc_weight.name = "FCWeight"
    matmul = network.add_matrix_multiply(relu.get_output(0), trt.MatrixOperation.NONE,
                                         fc_weight.get_output(0), trt.MatrixOperation.NONE)
    matmul.name = "MatMul"
    matmul.get_output(0).name = OUTPUT_NAME
    network.mark_output(matmul.get_output(0))
    # names for set_named_weights(): TensorRT matches the weights by their memory, so pass the same numpy arrays
    # that the layers were given (a numpy array becomes trt.Weights pointing at its data, without a copy)
    for name in ("conv.weight", "conv.bias", "fc.weight"):
        network.set_weights_name(weights[name], name)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed")
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


def run_engine(engine, inputs):
    """Run a static-shape engine once; return {output name: array}."""
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    host, device = {}, {}
    for name in names:
        dtype = trt.nptype(engine.get_tensor_dtype(name))
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            host[name] = np.ascontiguousarray(inputs[name], dtype=dtype)
            context.set_input_shape(name, host[name].shape)
        else:
            host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=dtype)
        device[name] = check_cuda(cudart.cudaMalloc(host[name].nbytes))
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


def check_array(label, actual, expected):
    same_shape = actual.shape == expected.shape
    max_error = float(np.max(np.abs(actual.astype(np.float64) - expected))) if same_shape else float("inf")
    passed = bool(same_shape and np.allclose(actual, expected, **TOLERANCE))
    print(f"check result: {passed}, max abs error = {max_error:.3e} ({label})")
    return passed


def check_fact(label, actual, expected):
    passed = bool(actual) == bool(expected)
    print(f"check result: {passed}, {label}: {bool(actual)} (expected {bool(expected)})")
    return passed


def print_missing(refitter):
    layers, roles = refitter.get_missing()  # ([layer names], [WeightsRole])
    print(f"    get_missing()         = {[(layer, role.name) for layer, role in zip(layers, roles)]}")
    print(f"    get_missing_weights() = {refitter.get_missing_weights()}")


def main():
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    runtime = trt.Runtime(logger)
    inputs = make_inputs()
    expected = reference(inputs)
    saved = {}
    passed = True
    old_weights, new_weights = make_weights(OLD_SEED), make_weights(NEW_SEED)

    print("=== Build")
    plain = build_engine(builder, runtime, old_weights, refit=False)
    print(f"without BuilderFlag.REFIT: engine.refittable = {plain.refittable}")
    engine = build_engine(builder, runtime, old_weights, refit=True)
    print(f"with    BuilderFlag.REFIT: engine.refittable = {engine.refittable}")
    saved["y_before_refit"] = run_engine(engine, inputs)[OUTPUT_NAME]
    passed &= check_array("before refit vs numpy with the old weights", saved["y_before_refit"],
                          expected["y_before_refit"])
    print_messages(logger.take())

    print("=== Refitter")
    refitter = trt.Refitter(engine, logger)
    layers, roles = refitter.get_all()
    print(f"get_all()         = {[(layer, role.name) for layer, role in zip(layers, roles)]}")
    print(f"get_all_weights() = {refitter.get_all_weights()}")
    print(f"max_threads       = {refitter.max_threads}")

    print("--- set_weights('Conv', KERNEL) only")
    # new_weights stays referenced until refit_cuda_engine() has finished: TensorRT reads it then, without a copy
    ok = refitter.set_weights("Conv", trt.WeightsRole.KERNEL, new_weights["conv.weight"])
    print(f"    set_weights('Conv', WeightsRole.KERNEL, ...) = {ok}")
    print_missing(refitter)
    logger.take()
    refitted = refitter.refit_cuda_engine()
    print(f"    refit_cuda_engine() = {refitted}")
    print_messages(logger.take())
    saved["refit_with_missing_bias_failed"] = np.array(not refitted)
    passed &= check_fact("refit with the bias missing failed", not refitted, True)

    print("--- set_named_weights() with a wrong element count, and with an unknown name")
    wrong_size = refitter.set_named_weights("fc.weight", np.zeros(7, dtype=np.float32))  # the engine needs 20
    unknown = refitter.set_named_weights("no.such.weights", new_weights["fc.weight"])
    print(f"    set_named_weights('fc.weight', 7 values)  = {wrong_size}")
    print(f"    set_named_weights('no.such.weights', ...) = {unknown}")
    print_messages(logger.take())
    saved["wrong_size_accepted_by_setter"] = np.array(wrong_size)
    passed &= check_fact("weights of the wrong size were accepted by set_named_weights", wrong_size, True)
    saved["unknown_name_rejected"] = np.array(not unknown)
    passed &= check_fact("an unknown weights name was rejected", not unknown, True)

    print("--- set_named_weights('conv.bias'), set_named_weights('fc.weight', 30 values), refit (observed, no check)")
    # 30 values replace the 7 above before any refit: TensorRT never gets the chance to read past a short array
    too_many = np.concatenate([new_weights["fc.weight"].ravel(), np.zeros(10, dtype=np.float32)])
    ok = refitter.set_named_weights("conv.bias", new_weights["conv.bias"])
    print(f"    set_named_weights('conv.bias', ...) = {ok}")
    ok = refitter.set_named_weights("fc.weight", too_many)
    print(f"    set_named_weights('fc.weight', 30 values) = {ok}")
    print_missing(refitter)
    print(f"    refit_cuda_engine() = {refitter.refit_cuda_engine()}")
    print_messages(logger.take())

    print("--- set_named_weights() of all three weights with the right sizes")
    for name in ("conv.weight", "conv.bias", "fc.weight"):  # all three: whatever the refit above did
        print(f"    set_named_weights('{name}', ...) = {refitter.set_named_weights(name, new_weights[name])}")
    print_missing(refitter)
    refitted = refitter.refit_cuda_engine()  # updates `engine` in place
    print(f"    refit_cuda_engine() = {refitted}")
    print_messages(logger.take())
    saved["refit_succeeded"] = np.array(refitted)
    passed &= check_fact("refit with every needed weight succeeded", refitted, True)

    saved["y_after_refit"] = run_engine(engine, inputs)[OUTPUT_NAME]
    passed &= check_array("after refit vs numpy with the new weights", saved["y_after_refit"],
                          expected["y_after_refit"])
    change = float(np.max(np.abs(saved["y_after_refit"] - saved["y_before_refit"])))
    print(f"the output changed by up to {change:.3f} between before and after the refit")

    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **saved)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
