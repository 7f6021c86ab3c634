#!/usr/bin/env python3
"""02-API/CudaEngine: everything an ICudaEngine tells about itself and about its input/output tensors.

Network "CudaEngineExample": inputT0 [-1,4,3,5] float32 (dynamic batch, profile min 1 / opt 2 / max 4)
    -> ReLU -> outputT0 float32, LINEAR format
            -> Identity -> outputT1 float16, HWC8 format (channels last, padded to 8: a vectorized format)
The script prints the engine-wide members, then the per-tensor queries by name for each I/O tensor, serializes
the engine and deserializes it again, prints the engine inspector's summary, and finally runs a batch of 2,
converting outputT1 from HWC8 back to NCHW before checking both outputs against numpy.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

C, H, W = 4, 3, 5
# FP16 is enabled (outputT1 is float16): FP16 tolerance for both outputs.
TOLERANCE = {"rtol": 1e-2, "atol": 1e-2}


def make_inputs():
    return {"inputT0": ((np.arange(2 * C * H * W, dtype=np.float32) - 60) / 16).reshape(2, C, H, W)}


def reference(inputs):
    y = np.maximum(inputs["inputT0"], 0).astype(np.float32)
    return {"outputT0": y, "outputT1": y.astype(np.float16).astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build_serialized(logger):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    network.name = "CudaEngineExample"  # kept in the engine: engine.name
    profile = builder.create_optimization_profile()
    config = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # engine.profiling_verbosity, inspector detail

    x = network.add_input("inputT0", trt.float32, (-1, C, H, W))
    profile.set_shape("inputT0", (1, C, H, W), (2, C, H, W), (4, C, H, W))
    config.add_optimization_profile(profile)
    relu = network.add_activation(x, trt.ActivationType.RELU)
    relu.name = "ReLU"
    y0 = relu.get_output(0)
    y0.name = "outputT0"
    identity = network.add_identity(y0)
    identity.name = "Identity"
    y1 = identity.get_output(0)
    y1.name = "outputT1"
    network.mark_output(y0)
    network.mark_output(y1)
    y0.allowed_formats = 1 << int(trt.TensorFormat.LINEAR)
    y1.dtype = trt.float16
    y1.allowed_formats = 1 << int(trt.TensorFormat.HWC8)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    return serialized


def flag_names(enum, bits):
    """Decode a bit mask of enum values (1 << int(value) | ...) into their names."""
    return [name for name, value in sorted(enum.__members__.items(), key=lambda kv: int(kv[1]))
            if bits & (1 << int(value))]


def print_engine(engine):
    print("--- engine-wide members")
    print(f"name                         = {engine.name}")
    print(f"num_io_tensors               = {engine.num_io_tensors}")
    print(f"num_layers                   = {engine.num_layers} (after TensorRT's fusions, not the network's count)")
    print(f"num_optimization_profiles    = {engine.num_optimization_profiles}")
    print(f"device_memory_size           = {engine.device_memory_size} bytes (scratch memory per context)")
    print(f"refittable                   = {engine.refittable} (True only with BuilderFlag.REFIT, see 02-API/Refit)")
    print(f"has_implicit_batch_dimension = {engine.has_implicit_batch_dimension}")
    print(f"engine_capability            = {engine.engine_capability}")
    print(f"hardware_compatibility_level = {engine.hardware_compatibility_level}")
    print(f"tactic_sources               = {engine.tactic_sources:#x} {flag_names(trt.TacticSource, engine.tactic_sources)}")
    print(f"profiling_verbosity          = {engine.profiling_verbosity}")
    print(f"num_aux_streams              = {engine.num_aux_streams}")
    print("--- per I/O tensor, by name")
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        print(f"get_tensor_name({i}) = {name}")
        print(f"    get_tensor_mode                   = {engine.get_tensor_mode(name)}")
        print(f"    get_tensor_dtype                  = {engine.get_tensor_dtype(name)}")
        print(f"    get_tensor_shape                  = {engine.get_tensor_shape(name)}")
        print(f"    get_tensor_format                 = {engine.get_tensor_format(name)}")
        print(f"    get_tensor_format_desc            = {engine.get_tensor_format_desc(name)}")
        print(f"    get_tensor_location               = {engine.get_tensor_location(name)}")
        print(f"    get_tensor_bytes_per_component    = {engine.get_tensor_bytes_per_component(name)}")
        print(f"    get_tensor_components_per_element = {engine.get_tensor_components_per_element(name)}")
        print(f"    get_tensor_vectorized_dim         = {engine.get_tensor_vectorized_dim(name)}")
        print(f"    is_shape_inference_io             = {engine.is_shape_inference_io(name)}")
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
            for p in range(engine.num_optimization_profiles):
                print(f"    get_tensor_profile_shape(name, {p})  = {engine.get_tensor_profile_shape(name, p)}")


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    runtime = trt.Runtime(logger)
    serialized = build_serialized(logger)
    engine = runtime.deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    print_engine(engine)

    host_memory = engine.serialize()  # IHostMemory: the same bytes build_serialized_network returned
    print(f"--- serialize(): {host_memory.nbytes} bytes (build_serialized_network gave {serialized.nbytes})")
    again = runtime.deserialize_cuda_engine(host_memory)
    if again is None:
        raise RuntimeError("deserializing the re-serialized engine failed")
    print(f"deserialized again: name = {again.name}, num_layers = {again.num_layers}")

    inspector = engine.create_engine_inspector()  # more in 02-API/EngineInspector
    print("--- create_engine_inspector().get_engine_information(ONELINE):")
    print(inspector.get_engine_information(trt.LayerInformationFormat.ONELINE))

    format1 = engine.get_tensor_format("outputT1")
    format_ok = format1 == trt.TensorFormat.HWC8 and engine.get_tensor_components_per_element("outputT1") == 8
    print(f"check result: {format_ok}, outputT1 is HWC8 with 8 components per element")

    inputs = make_inputs()
    x_host = np.ascontiguousarray(inputs["inputT0"])
    n = x_host.shape[0]
    context = engine.create_execution_context()
    context.set_input_shape("inputT0", x_host.shape)
    y0_host = np.empty(tuple(context.get_tensor_shape("outputT0")), dtype=np.float32)
    padded_c = (C + 7) // 8 * 8
    y1_raw = np.empty((n, H, W, padded_c), dtype=np.float16)  # HWC8: [N][H][W][ceil(C/8)*8]
    x_device = check_cuda(cudart.cudaMalloc(x_host.nbytes))
    y0_device = check_cuda(cudart.cudaMalloc(y0_host.nbytes))
    y1_device = check_cuda(cudart.cudaMalloc(y1_raw.nbytes))
    context.set_tensor_address("inputT0", x_device)
    context.set_tensor_address("outputT0", y0_device)
    context.set_tensor_address("outputT1", y1_device)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(x_device, x_host.ctypes.data, x_host.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    for host, device in ((y0_host, y0_device), (y1_raw, y1_device)):
        check_cuda(cudart.cudaMemcpyAsync(host.ctypes.data, device, host.nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))

    outputs = {"outputT0": y0_host,
               "outputT1": np.ascontiguousarray(y1_raw[..., :C].transpose(0, 3, 1, 2)).astype(np.float32)}
    print(f"outputT0 {y0_host.shape}, first sample:\n{y0_host[0]}")
    print(f"outputT1 raw HWC8 buffer {y1_raw.shape}, first pixel row: {y1_raw[0, 0]}")
    expected = reference(inputs)
    passed = format_ok
    for key in expected:
        error = float(np.max(np.abs(outputs[key] - expected[key])))
        ok = bool(np.allclose(outputs[key], expected[key], **TOLERANCE))
        print(f"check result: {ok}, {key}: max abs error = {error:.3e}")
        passed = passed and ok
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)

    for pointer in (x_device, y0_device, y1_device):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
