#!/usr/bin/env python3
"""02-API/Runtime: the Runtime that turns a serialized plan back into an engine, and the IHostMemory that holds a plan.

1. IHostMemory: what builder.build_serialized_network() returns (nbytes, dtype, the buffer protocol: memoryview,
   bytes(), numpy.frombuffer) and how to write it to a file.
2. Runtime members: DLA_core / num_DLA_cores, max_threads, engine_host_code_allowed, temporary_directory,
   tempfile_control_flags, logger, error_recorder, get_plugin_registry() (gpu_allocator: see 02-API/GPUAllocator,
   error_recorder: see 02-API/ErrorRecorder).
3. deserialize_cuda_engine() from the IHostMemory, from the bytes of the saved file, and from bytes that are not a
   plan (returns None, the reason goes to the logger). engine.serialize() gives an IHostMemory again.
4. engine_host_code_allowed and a version-compatible plan (BuilderFlag.VERSION_COMPATIBLE). By default such a plan
   embeds the lean runtime (libnvinfer_lean.so, host code), copied from the TensorRT installation; the TensorRT 8.6.0
   installation this cookbook was checked on has no lean runtime library, so a plain VERSION_COMPATIBLE build fails.
   With BuilderFlag.EXCLUDE_LEAN_RUNTIME as well, the plan does not embed it (a newer TensorRT would then load it with
   a lean runtime given by runtime.load_runtime(path)). The plan is loaded with engine_host_code_allowed False
   (printed: what happens) and True (checked: it loads and runs, output compared with numpy).
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

PLAN_FILE = "model.plan"
VC_PLAN_FILE = "model-version-compatible.plan"
INPUT_NAME = "inputT0"
OUTPUT_NAME = "outputT0"
SHAPE = (2, 3, 4)
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    return {INPUT_NAME: (np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) - 12) / 4}


def reference(inputs):
    """y = ReLU(x) * 2 + 1 for both engines; the refusal of the corrupt plan is known in advance."""
    y = (np.maximum(inputs[INPUT_NAME], 0) * 2 + 1).astype(np.float32)
    return {
        OUTPUT_NAME: y,  # the ordinary plan, deserialized from the file
        OUTPUT_NAME + "_version_compatible": y,  # the version-compatible plan, with host code allowed
        "corrupt_plan_rejected": np.array(True),
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
        """Return and forget the messages collected so far."""
        messages, self.messages = self.messages, []
        return messages


def print_messages(messages, indent="    "):
    for severity, msg in messages:
        print(f"{indent}[TRT] {severity.name}: {msg}")


def build_serialized(builder, logger, version_compatible):
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    if version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)  # only lean-runtime operators: newer TensorRT can run it
        # Without the next flag the builder copies the lean runtime library (libnvinfer_lean.so) into the plan; this
        # TensorRT 8.6.0 installation has none, and the build fails. With it the plan holds no lean runtime.
        config.set_flag(trt.BuilderFlag.EXCLUDE_LEAN_RUNTIME)

    x = network.add_input(INPUT_NAME, trt.float32, SHAPE)
    relu = network.add_activation(x, trt.ActivationType.RELU)
    relu.name = "ReLU"
    two = network.add_constant([1, 1, 1], np.array([2], dtype=np.float32))
    one = network.add_constant([1, 1, 1], np.array([1], dtype=np.float32))
    times_two = network.add_elementwise(relu.get_output(0), two.get_output(0), trt.ElementWiseOperation.PROD)
    plus_one = network.add_elementwise(times_two.get_output(0), one.get_output(0), trt.ElementWiseOperation.SUM)
    plus_one.get_output(0).name = OUTPUT_NAME
    network.mark_output(plus_one.get_output(0))

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        reasons = "\n".join(f"    {msg}" for _, msg in logger.take())
        raise RuntimeError(f"building the {'version-compatible ' if version_compatible else ''}plan failed:\n{reasons}")
    return serialized


def show_host_memory(serialized):
    print("=== IHostMemory (what build_serialized_network returns)")
    print(f"type(serialized)        = {type(serialized).__name__}")
    print(f"serialized.nbytes       = {serialized.nbytes}")
    print(f"serialized.dtype        = {serialized.dtype}")  # the element type of the buffer
    view = memoryview(serialized)  # buffer protocol: no copy (TensorRT 8.6 describes the items as format 'f')
    print(f"memoryview(serialized)  = {view.nbytes} bytes, format '{view.format}', itemsize {view.itemsize}, "
          f"shape {view.shape}")
    as_array = np.frombuffer(serialized, dtype=np.uint8)  # buffer protocol again: a numpy view, no copy
    print(f"np.frombuffer(...)[:8]  = {as_array[:8].tolist()}")
    as_bytes = bytes(serialized)  # a copy that outlives the IHostMemory
    print(f"bytes(serialized)[:8]   = {as_bytes[:8]!r}")
    with open(PLAN_FILE, "wb") as f:  # file.write() takes the buffer directly
        f.write(serialized)
    print(f"wrote {PLAN_FILE}: {os.path.getsize(PLAN_FILE)} bytes")


def show_runtime_members(runtime):
    print("=== Runtime members")
    print(f"runtime.num_DLA_cores          = {runtime.num_DLA_cores}")
    print(f"runtime.DLA_core               = {runtime.DLA_core}  (-1: no DLA / not set)")
    runtime.DLA_core = 0  # does nothing when the GPU has no DLA (num_DLA_cores == 0)
    print(f"runtime.DLA_core = 0        -> {runtime.DLA_core}")
    print(f"runtime.max_threads            = {runtime.max_threads}  (default 1: only the calling thread)")
    runtime.max_threads = 4  # TensorRT may use up to 4 threads (e.g. while deserializing)
    print(f"runtime.max_threads = 4     -> {runtime.max_threads}")
    print(f"runtime.engine_host_code_allowed = {runtime.engine_host_code_allowed}  (default False)")
    print(f"runtime.temporary_directory    = {runtime.temporary_directory}  (None: $TMPDIR, then /tmp)")
    flags = runtime.tempfile_control_flags
    print(f"runtime.tempfile_control_flags = {flags}")
    for flag in (trt.TempfileControlFlag.ALLOW_IN_MEMORY_FILES, trt.TempfileControlFlag.ALLOW_TEMPORARY_FILES):
        print(f"    {flag.name:22s}: {bool(flags & (1 << int(flag)))}")
    print(f"runtime.logger                 = {type(runtime.logger).__name__}")
    print(f"runtime.error_recorder         = {runtime.error_recorder}  (see 02-API/ErrorRecorder)")
    print("runtime.gpu_allocator          : write-only, see 02-API/GPUAllocator")
    registry = runtime.get_plugin_registry()
    print(f"runtime.get_plugin_registry()  : {len(registry.plugin_creator_list)} plugin creators registered")


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
    passed = bool(actual.shape == expected.shape and np.allclose(actual, expected, **TOLERANCE))
    print(f"check result: {passed}, max abs error = {max_error:.3e} ({label})")
    return passed


def check_fact(label, actual, expected):
    passed = bool(actual) == bool(expected)
    print(f"check result: {passed}, {label}: {bool(actual)} (expected {bool(expected)})")
    return passed


def main():
    logger = CollectingLogger()
    builder = trt.Builder(logger)
    inputs = make_inputs()
    expected = reference(inputs)
    saved = {}
    passed = True

    serialized = build_serialized(builder, logger, version_compatible=False)
    show_host_memory(serialized)

    runtime = trt.Runtime(logger)
    show_runtime_members(runtime)
    print_messages(logger.take())  # e.g. what setting DLA_core on a GPU without DLA reported

    print("=== deserialize_cuda_engine")
    engine_from_host_memory = runtime.deserialize_cuda_engine(serialized)  # any buffer works: IHostMemory ...
    print(f"from the IHostMemory        : {type(engine_from_host_memory).__name__}")
    del serialized, engine_from_host_memory  # an IHostMemory frees its memory when it is deleted
    with open(PLAN_FILE, "rb") as f:
        plan = f.read()
    engine = runtime.deserialize_cuda_engine(plan)  # ... or bytes read from a file
    if engine is None:
        raise RuntimeError(f"deserializing {PLAN_FILE} failed")
    print(f"from the bytes of {PLAN_FILE}: {type(engine).__name__}, {engine.num_io_tensors} I/O tensors, "
          f"{engine.num_layers} layers")
    again = engine.serialize()  # ICudaEngine.serialize() returns an IHostMemory too
    print(f"engine.serialize()          : {type(again).__name__}, {again.nbytes} bytes, "
          f"same bytes as the file: {bytes(again) == plan}")
    output = run_engine(engine, inputs)[OUTPUT_NAME]
    saved[OUTPUT_NAME] = output
    passed &= check_array("plan from the file vs numpy", output, expected[OUTPUT_NAME])

    corrupt = runtime.deserialize_cuda_engine(b"this is not a TensorRT plan")
    print(f"from bytes that are not a plan: {corrupt}")
    print_messages(logger.take())
    saved["corrupt_plan_rejected"] = np.array(corrupt is None)
    passed &= check_fact("deserializing a corrupt plan returned None", corrupt is None, True)

    print("=== engine_host_code_allowed and a version-compatible plan")
    vc_serialized = build_serialized(builder, logger, version_compatible=True)
    with open(VC_PLAN_FILE, "wb") as f:
        f.write(vc_serialized)
    print(f"wrote {VC_PLAN_FILE}: {vc_serialized.nbytes} bytes (the ordinary plan: {len(plan)} bytes; "
          "VERSION_COMPATIBLE + EXCLUDE_LEAN_RUNTIME: no lean runtime inside)")
    logger.take()
    runtime.engine_host_code_allowed = False
    without_host_code = runtime.deserialize_cuda_engine(vc_serialized)  # observed, not checked
    if without_host_code is None:
        print("engine_host_code_allowed = False -> None (refused)")
    else:
        print(f"engine_host_code_allowed = False -> {type(without_host_code).__name__} (loaded: no host code inside)")
    print_messages(logger.take())
    del without_host_code

    runtime.engine_host_code_allowed = True  # only for plans you trust: they run code on the host
    vc_engine = runtime.deserialize_cuda_engine(vc_serialized)
    print(f"engine_host_code_allowed = True  -> {type(vc_engine).__name__}")
    print_messages(logger.take())
    if vc_engine is None:
        raise RuntimeError("deserializing the version-compatible plan failed with host code allowed")
    vc_output = run_engine(vc_engine, inputs)[OUTPUT_NAME]
    saved[OUTPUT_NAME + "_version_compatible"] = vc_output
    passed &= check_array("version-compatible plan vs numpy", vc_output, expected[OUTPUT_NAME + "_version_compatible"])

    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **saved)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
