#!/usr/bin/env python3
"""02-API/Layer/ILayer / Precision: layer.precision and layer.set_output_type, and what they change.

Network: inputT0 [3,4,5] float32 (values close to +-1, 5 significant digits) -> ReLU -> outputT0 float32.
It is built twice, both times with BuilderFlag.FP16 (FP16 kernels allowed) and
BuilderFlag.OBEY_PRECISION_CONSTRAINTS (the per-layer settings become rules, not hints):
  * ReLU.precision = float32, set_output_type(0, float32): the output equals ReLU(x) exactly;
  * ReLU.precision = float16, set_output_type(0, float16): the ReLU runs on float16 data, so the output is
    ReLU(x) rounded to float16 (spacing ~1e-3 near 1), although the network output itself stays float32.
Both outputs are compared with their own numpy reference at FP32 tolerance: each check would fail if TensorRT
had chosen the other precision. The before/after values of precision, precision_is_set, get_output_type,
output_type_is_set and the reset_* methods are printed while the network is built.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

SHAPE = (3, 4, 5)
# Tight on purpose: float16 rounding (up to ~5e-4 here) must be visible as a difference.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    values = 1 + np.arange(np.prod(SHAPE), dtype=np.float32) * np.float32(1.37e-4)
    signs = np.where(np.arange(np.prod(SHAPE)) % 10 < 5, 1, -1).astype(np.float32)  # 5 positive, 5 negative, ...
    return {"inputT0": (values * signs).reshape(SHAPE).astype(np.float32)}


def reference(inputs):
    """numpy: ReLU(x) exactly (FP32 layer) and ReLU(x) rounded to float16 (FP16 layer), both as float32."""
    relu = np.maximum(inputs["inputT0"], 0).astype(np.float32)
    return {"outputT0_fp32_layer": relu, "outputT0_fp16_layer": relu.astype(np.float16).astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def show(layer, when):
    print(f"  {when:32s} precision = {layer.precision}, precision_is_set = {layer.precision_is_set}, "
          f"get_output_type(0) = {layer.get_output_type(0)}, output_type_is_set(0) = {layer.output_type_is_set(0)}")


def build_engine(logger, layer_type):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)  # or PREFER_PRECISION_CONSTRAINTS: fall back
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED

    x = network.add_input("inputT0", trt.float32, SHAPE)
    relu = network.add_activation(x, trt.ActivationType.RELU)
    relu.name = "ReLU"
    relu.get_output(0).name = "outputT0"
    network.mark_output(relu.get_output(0))

    print(f"--- ReLU layer, build with {layer_type}")
    show(relu, "default")
    relu.precision = trt.float16
    relu.set_output_type(0, trt.float16)
    show(relu, "after setting float16")
    relu.reset_precision()
    relu.reset_output_type(0)
    show(relu, "after reset_precision/output_type")
    relu.precision = layer_type
    relu.set_output_type(0, layer_type)
    show(relu, f"after setting {layer_type}")
    print(f"  network output tensor dtype stays {relu.get_output(0).dtype} (ITensor.dtype, not the layer's type)")

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    inspector = engine.create_engine_inspector()
    print("  engine layers (inspector, one line each):")
    for i in range(engine.num_layers):
        print(f"    {inspector.get_layer_information(i, trt.LayerInformationFormat.ONELINE).strip()}")
    return engine


def run(engine, x):
    context = engine.create_execution_context()
    x_host = np.ascontiguousarray(x)
    y_host = np.empty(tuple(context.get_tensor_shape("outputT0")), dtype=np.float32)
    x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
    y_device = check_cuda(cudart.cudaMalloc(y_host.nbytes))
    context.set_tensor_address("inputT0", x_device)
    context.set_tensor_address("outputT0", y_device)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(y_host.ctypes.data, y_device, y_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in (x_device, y_device):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return y_host


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    inputs = make_inputs()
    expected = reference(inputs)
    exact = expected["outputT0_fp32_layer"]
    outputs, passed = {}, True
    for key, layer_type in (("outputT0_fp32_layer", trt.float32), ("outputT0_fp16_layer", trt.float16)):
        engine = build_engine(logger, layer_type)
        outputs[key] = run(engine, inputs["inputT0"])
        print(f"  {key}: max |output - ReLU(x)| = {float(np.max(np.abs(outputs[key] - exact))):.3e} "
              f"(float16 spacing near 1 is {float(np.spacing(np.float16(1))):.3e})")
        error = float(np.max(np.abs(outputs[key] - expected[key])))
        ok = bool(np.allclose(outputs[key], expected[key], **TOLERANCE))
        print(f"check result: {ok}, {key} against its reference: max abs error = {error:.3e}")
        passed = passed and ok
    print(f"inputT0[0]:\n{inputs['inputT0'][0]}")
    print(f"outputT0_fp32_layer[0]:\n{outputs['outputT0_fp32_layer'][0]}")
    print(f"outputT0_fp16_layer[0]:\n{outputs['outputT0_fp16_layer'][0]}")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
