#!/usr/bin/env python3
"""02-API/Network/NetworkPrinter: print every layer and every tensor of a network (the course slides' example).

print_network(network) lists the network's inputs and outputs, then, for each layer: index, type, number of
inputs and outputs, name, and for each of its input/output tensors: shape, dtype and name (None for an optional
input that is not set). It is applied to a small convolutional classifier built with the API (seeded weights):
Conv-ReLU-MaxPool x 2 -> Shuffle (flatten) -> MatMul + bias -> SoftMax -> TopK. The engine's results are checked
against numpy.
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
BATCH, HEIGHT, WIDTH = 2, 8, 8
C1, C2, CLASSES = 4, 8, 10
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 with TF32 cleared


def make_weights():
    rng = np.random.default_rng(97)
    return {
        "conv1.weight": (rng.standard_normal((C1, 1, 3, 3)) * 0.5).astype(np.float32),
        "conv1.bias": (rng.standard_normal(C1) * 0.1).astype(np.float32),
        "conv2.weight": (rng.standard_normal((C2, C1, 3, 3)) * 0.3).astype(np.float32),
        "conv2.bias": (rng.standard_normal(C2) * 0.1).astype(np.float32),
        "fc.weight": (rng.standard_normal((C2 * (HEIGHT // 4) * (WIDTH // 4), CLASSES)) * 0.3).astype(np.float32),
        "fc.bias": (rng.standard_normal((1, CLASSES)) * 0.1).astype(np.float32),
    }


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal((BATCH, 1, HEIGHT, WIDTH)).astype(np.float32)}


def conv2d_same(x, w, b):
    """3x3 convolution, stride 1, zero padding 1 (NCHW, weights OIHW), in float64."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))  # N,C,H,W,3,3
    return np.einsum("nchwij,ocij->nohw", windows, w) + b.reshape(1, -1, 1, 1)


def max_pool_2x2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def reference(inputs):
    p = {k: v.astype(np.float64) for k, v in make_weights().items()}
    x = inputs[INPUT_NAME].astype(np.float64)
    x = max_pool_2x2(np.maximum(conv2d_same(x, p["conv1.weight"], p["conv1.bias"]), 0))
    x = max_pool_2x2(np.maximum(conv2d_same(x, p["conv2.weight"], p["conv2.bias"]), 0))
    logits = x.reshape(BATCH, -1) @ p["fc.weight"] + p["fc.bias"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    probability = e / e.sum(axis=1, keepdims=True)
    return {
        "probability": probability.astype(np.float32),
        "label": np.argmax(probability, axis=1).reshape(BATCH, 1).astype(np.int32),
    }


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def tensor_string(tensor):
    if tensor is None:
        return "None"
    return f"{tuple(tensor.shape)},{tensor.dtype.name},{tensor.name}"


def print_network(network):
    """Print the network's inputs, outputs and every layer with its input and output tensors."""
    print(f"Network {network.name!r}: {network.num_inputs} inputs, {network.num_outputs} outputs, "
          f"{network.num_layers} layers")
    for i in range(network.num_inputs):
        print(f"Input  {i:2d}: {tensor_string(network.get_input(i))}")
    for i in range(network.num_outputs):
        print(f"Output {i:2d}: {tensor_string(network.get_output(i))}")
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        print(f"{i:3d} {layer.type.name},in={layer.num_inputs},out={layer.num_outputs},{layer.name}")
        for j in range(layer.num_inputs):
            print(f"\tInput  {j:2d}:{tensor_string(layer.get_input(j))}")
        for j in range(layer.num_outputs):
            print(f"\tOutput {j:2d}:{tensor_string(layer.get_output(j))}")


def build_network(builder):
    p = make_weights()
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    network.name = "SmallConvNet"
    x = network.add_input(INPUT_NAME, trt.float32, (BATCH, 1, HEIGHT, WIDTH))

    tensor = x
    for k, channels in ((1, C1), (2, C2)):
        conv = network.add_convolution_nd(tensor, channels, (3, 3), trt.Weights(p[f"conv{k}.weight"]),
                                          trt.Weights(p[f"conv{k}.bias"]))
        conv.padding_nd = (1, 1)
        conv.name = f"Conv{k}"
        relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
        relu.name = f"ReLU{k}"
        pool = network.add_pooling_nd(relu.get_output(0), trt.PoolingType.MAX, (2, 2))
        pool.stride_nd = (2, 2)
        # pool is left unnamed on purpose: TensorRT names it "(Unnamed Layer* N) [Pooling]"
        tensor = pool.get_output(0)

    flatten = network.add_shuffle(tensor)
    flatten.reshape_dims = (BATCH, -1)  # [2, 8, 2, 2] -> [2, 32]
    flatten.name = "Flatten"
    weight = network.add_constant(p["fc.weight"].shape, trt.Weights(p["fc.weight"]))
    weight.name = "FC.weight"
    matmul = network.add_matrix_multiply(flatten.get_output(0), trt.MatrixOperation.NONE, weight.get_output(0),
                                         trt.MatrixOperation.NONE)
    matmul.name = "FC.matmul"
    bias = network.add_constant(p["fc.bias"].shape, trt.Weights(p["fc.bias"]))
    bias.name = "FC.bias"
    add = network.add_elementwise(matmul.get_output(0), bias.get_output(0), trt.ElementWiseOperation.SUM)
    add.name = "FC.add"
    add.get_output(0).name = "logits"
    softmax = network.add_softmax(add.get_output(0))
    softmax.axes = 1 << 1  # over the class dimension
    softmax.name = "SoftMax"
    softmax.get_output(0).name = "probability"
    top1 = network.add_topk(softmax.get_output(0), trt.TopKOperation.MAX, 1, 1 << 1)
    top1.name = "Top1"
    top1.get_output(0).name = "top1_probability"
    top1.get_output(1).name = "label"
    network.mark_output(softmax.get_output(0))
    network.mark_output(top1.get_output(1))
    return network, p  # keep the weight arrays alive until the engine is built


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
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network, weights = build_network(builder)
    print_network(network)

    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)  # exact FP32 convolution and matrix multiply
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    print(f"\nThe network has {network.num_layers} layers; after fusion the engine has {engine.num_layers}")

    inputs = make_inputs()
    outputs = run_engine(engine, inputs)
    expected = reference(inputs)
    print(f"label (TensorRT) = {outputs['label'].ravel()}, label (numpy) = {expected['label'].ravel()}")
    passed = True
    err = float(np.max(np.abs(outputs["probability"] - expected["probability"])))
    ok = bool(np.allclose(outputs["probability"], expected["probability"], **TOLERANCE))
    print(f"check result: {ok}, probability: max abs error = {err:.3e}")
    passed &= ok
    ok = bool(np.array_equal(outputs["label"], expected["label"]))
    print(f"check result: {ok}, label: exact match")
    passed &= ok
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
