#!/usr/bin/env python3
"""02-API/Builder: the members of trt.Builder in TensorRT 8.6.

- network creation flags: EXPLICIT_BATCH (use it), EXPLICIT_PRECISION (deprecated, no effect), 0 = implicit batch
  (deprecated)
- platform queries: platform_has_fast_fp16 / platform_has_fast_int8 / platform_has_tf32, num_DLA_cores,
  max_DLA_batch_size, max_threads, logger, max_batch_size (deprecated), error_recorder, gpu_allocator,
  get_plugin_registry()
- is_network_supported(network, config), reset()
- create_network / create_optimization_profile / create_builder_config / build_serialized_network; the deprecated
  build_engine is only mentioned (it returns an ICudaEngine directly and is removed in TensorRT 10).
A small network, y = x @ W + b with a dynamic batch, is built and checked against numpy.
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
K, N = 16, 8
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 with TF32 cleared


def make_weights():
    rng = np.random.default_rng(97)
    return rng.standard_normal((K, N)).astype(np.float32), rng.standard_normal((1, N)).astype(np.float32)


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal((4, K)).astype(np.float32)}


def reference(inputs):
    w, b = make_weights()
    x = inputs[INPUT_NAME].astype(np.float64)
    return {
        OUTPUT_NAME: (x @ w + b).astype(np.float32),
        # network creation flags: known in advance
        "implicit_batch_network_has_implicit_batch": np.array(True),
        "explicit_batch_network_has_implicit_batch": np.array(False),
    }


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def show_creation_flags(builder):
    print("=== Network creation flags (trt.NetworkDefinitionCreationFlag)")
    for name in ("EXPLICIT_BATCH", "EXPLICIT_PRECISION"):
        flag = getattr(trt.NetworkDefinitionCreationFlag, name)
        print(f"{name:18s} value {int(flag)} -> create_network(1 << {int(flag)})")
    # 0: implicit batch (deprecated since 8.4: the batch dimension is not part of the tensor shapes)
    implicit = builder.create_network(0)
    explicit = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    # EXPLICIT_PRECISION has had no effect since TensorRT 8.0 (Q/DQ layers make a network explicitly precise)
    both = builder.create_network((1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
                                  | (1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_PRECISION)))
    print(f"create_network(0)                        : has_implicit_batch_dimension = "
          f"{implicit.has_implicit_batch_dimension}")
    print(f"create_network(EXPLICIT_BATCH)           : has_implicit_batch_dimension = "
          f"{explicit.has_implicit_batch_dimension}, has_explicit_precision = {explicit.has_explicit_precision}")
    print(f"create_network(EXPLICIT_BATCH | EXPLICIT_PRECISION): has_explicit_precision = "
          f"{both.has_explicit_precision} (the flag is deprecated and does nothing in 8.6)")
    return {
        "implicit_batch_network_has_implicit_batch": np.array(bool(implicit.has_implicit_batch_dimension)),
        "explicit_batch_network_has_implicit_batch": np.array(bool(explicit.has_implicit_batch_dimension)),
    }


def show_queries(builder):
    print("\n=== Platform queries and other members")
    print(f"builder.platform_has_fast_fp16 = {builder.platform_has_fast_fp16}  (native FP16 arithmetic)")
    print(f"builder.platform_has_fast_int8 = {builder.platform_has_fast_int8}  (native INT8 arithmetic)")
    print(f"builder.platform_has_tf32      = {builder.platform_has_tf32}  (TF32 tensor cores: Ampere and newer)")
    print(f"builder.num_DLA_cores          = {builder.num_DLA_cores}  (DLA exists on Jetson/Drive only)")
    print(f"builder.max_DLA_batch_size     = {builder.max_DLA_batch_size}")
    print(f"builder.max_batch_size         = {builder.max_batch_size}  (deprecated: implicit batch networks only)")
    print(f"builder.max_threads            = {builder.max_threads}  (threads the builder may use)")
    print(f"builder.logger                 = {builder.logger}")
    print(f"builder.error_recorder         = {builder.error_recorder}  (see 02-API/ErrorRecorder)")
    print("builder.gpu_allocator          = write-only (set it to an IGpuAllocator, see 02-API/GPUAllocator)")
    registry = builder.get_plugin_registry()
    print(f"builder.get_plugin_registry()  = {registry} with {len(registry.plugin_creator_list)} plugin creators "
          "(before trt.init_libnvinfer_plugins they are few or none)")


def show_reset(builder):
    print("\n=== builder.reset()")
    builder.max_threads = 4
    print(f"after builder.max_threads = 4: max_threads = {builder.max_threads}")
    builder.reset()  # "resets the builder state to default values"
    print(f"after builder.reset():         max_threads = {builder.max_threads}")


def build_network(builder):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    profile = builder.create_optimization_profile()
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)  # exact FP32 matrix multiply
    w, b = make_weights()
    x = network.add_input(INPUT_NAME, trt.float32, (-1, K))
    profile.set_shape(INPUT_NAME, (1, K), (4, K), (8, K))
    config.add_optimization_profile(profile)
    weight = network.add_constant((K, N), trt.Weights(np.ascontiguousarray(w)))
    bias = network.add_constant((1, N), trt.Weights(np.ascontiguousarray(b)))
    matmul = network.add_matrix_multiply(x, trt.MatrixOperation.NONE, weight.get_output(0), trt.MatrixOperation.NONE)
    add = network.add_elementwise(matmul.get_output(0), bias.get_output(0), trt.ElementWiseOperation.SUM)
    add.get_output(0).name = OUTPUT_NAME
    network.mark_output(add.get_output(0))

    supported = builder.is_network_supported(network, config)
    print(f"\nbuilder.is_network_supported(network, config) = {supported} "
          "(the header says this check is only supported in NVIDIA Drive products)")
    # builder.build_engine(network, config) is deprecated (TensorRT 8.0) and removed in TensorRT 10:
    # use build_serialized_network, then Runtime.deserialize_cuda_engine.
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed")
    print(f"builder.build_serialized_network(network, config) -> IHostMemory of {serialized.nbytes} bytes")
    return serialized


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
    flags = show_creation_flags(builder)
    show_queries(builder)
    show_reset(builder)
    serialized = build_network(builder)

    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    inputs = make_inputs()
    outputs = run_engine(engine, inputs)
    expected = reference(inputs)

    passed = True
    err = float(np.max(np.abs(outputs[OUTPUT_NAME] - expected[OUTPUT_NAME])))
    ok = bool(np.allclose(outputs[OUTPUT_NAME], expected[OUTPUT_NAME], **TOLERANCE))
    print(f"check result: {ok}, max abs error = {err:.3e}")
    passed &= ok
    for key, value in flags.items():
        ok = bool(value == expected[key])
        print(f"check result: {ok}, {key} = {bool(value)}")
        passed &= ok
    outputs.update(flags)
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
