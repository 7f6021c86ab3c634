#!/usr/bin/env python3
"""ShuffleLayer / ZeroIsPlaceholder: what a 0 in reshape_dims means.

True (default): 0 copies the input dimension, so (0, -1) reshapes [3, 4, 5] to [3, 20].
False: 0 is a real zero-length dimension (as in ONNX Reshape with allowzero=1). (0, -1) then asks for an empty
tensor from 60 elements with -1 undetermined, and TensorRT rejects the network; the script shows the error."""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
SHAPE = (3, 4, 5)


class CollectingLogger(trt.ILogger):
    """A logger that prints every message and keeps the errors, so the script can show why a build failed."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.errors = []

    def log(self, severity, msg):
        if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR):
            self.errors.append(msg)
            print(f"[TRT] {severity.name}: {msg}")


def make_inputs():
    return {"inputT0": np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)}


def reference(inputs):
    x = inputs["inputT0"]
    # zero_is_placeholder=False with (0, -1) is known in advance to be rejected: the check is that it failed
    return {"placeholder/outputT0": x.reshape(x.shape[0], -1), "literal_zero/build_failed": np.array(True)}


def add_layers(network, inputs, zero_is_placeholder):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    layer = network.add_shuffle(x)
    layer.zero_is_placeholder = zero_is_placeholder
    layer.reshape_dims = (0, -1)
    print(f"zero_is_placeholder = {layer.zero_is_placeholder}, reshape_dims = {tuple(layer.reshape_dims)}")
    name = "placeholder/outputT0" if zero_is_placeholder else "literal_zero/outputT0"
    layer.get_output(0).name = name
    network.mark_output(layer.get_output(0))


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def execute(engine, inputs):
    """Run the engine once on `inputs`; return {output name: numpy array}."""
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device = {}, {}

    def bind(name):  # shape tensors live in host memory, everything else on the GPU
        if engine.get_tensor_location(name) == trt.TensorLocation.HOST:
            context.set_tensor_address(name, host[name].ctypes.data)
        else:
            device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
            context.set_tensor_address(name, device[name])

    for name in input_names:  # inputs first: the output shapes depend on their shapes (and shape-tensor values)
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        context.set_input_shape(name, host[name].shape)
        bind(name)
    for name in output_names:
        shape = tuple(context.get_tensor_shape(name))
        host[name] = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        bind(name)

    stream = check_cuda(cudart.cudaStreamCreate())
    for name in input_names:
        if name in device and host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    for name in output_names:
        if name in device and host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in device.values():
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return {name: host[name] for name in output_names}


def compare(name, got, want):
    """Print one output and its check; floats within TOLERANCE, integers and booleans exactly."""
    print(f"{name} {got.shape} {got.dtype}:\n{got}")
    if got.shape != want.shape:
        print(f"check result: False, shape {got.shape} != expected {want.shape}")
        return False
    if want.dtype.kind in "biu":
        ok = bool(np.array_equal(got, want))
        error = float(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64)))) if want.size else 0.0
    else:
        ok = bool(np.allclose(got, want, **TOLERANCE))
        error = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
    print(f"check result: {ok}, max abs error = {error:.3e}")
    return ok



def build(logger, inputs, zero_is_placeholder):
    """Return the engine, or None when TensorRT rejects the network."""
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    try:
        add_layers(network, inputs, zero_is_placeholder)
        serialized = builder.build_serialized_network(network, config)
    except Exception as error:  # some versions raise from the Python API instead of returning None
        print(f"exception: {error}")
        serialized = None
    if serialized is None:
        return None
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    return engine


def main():
    np.set_printoptions(precision=4, linewidth=120, suppress=True)
    inputs = make_inputs()
    print(f"inputT0 {inputs['inputT0'].shape}:\n{inputs['inputT0']}")
    expected = reference(inputs)
    outputs = {}
    logger = CollectingLogger()  # one logger for the whole process: TensorRT keeps the first one it is given

    print("--- zero_is_placeholder = True")
    engine = build(logger, inputs, True)
    if engine is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    outputs["placeholder/outputT0"] = execute(engine, inputs)["placeholder/outputT0"]
    passed = compare("placeholder/outputT0", outputs["placeholder/outputT0"], expected["placeholder/outputT0"])

    print("--- zero_is_placeholder = False")
    logger.errors.clear()
    engine = build(logger, inputs, False)
    outputs["literal_zero/build_failed"] = np.array(engine is None)
    print(f"build failed as expected: {engine is None} ({len(logger.errors)} error message(s) above)")
    passed = compare("literal_zero/build_failed", outputs["literal_zero/build_failed"],
                     expected["literal_zero/build_failed"]) and passed

    stem = os.path.splitext(os.path.basename(__file__))[0]
    np.savez(stem + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
