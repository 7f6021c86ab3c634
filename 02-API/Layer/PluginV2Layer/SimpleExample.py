#!/usr/bin/env python3
"""PluginV2Layer / SimpleExample: use a plugin that ships with TensorRT (libnvinfer_plugin) in a network.

trt.init_libnvinfer_plugins(logger, "") registers the built-in plugin creators; trt.get_plugin_registry() lists them.
The creator "LReLU_TRT" (version "1") makes a leaky ReLU from one field, negSlope (FLOAT32); its fields are passed as
a PluginFieldCollection, and add_plugin_v2(inputs, plugin) puts the plugin into the network.
Writing a plugin of your own: 05-Plugin.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
SHAPE = (1, 2, 3, 4)
NEG_SLOPE = 0.1
PLUGIN_NAME, PLUGIN_VERSION, PLUGIN_NAMESPACE = "LReLU_TRT", "1", ""


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"inputT0": rng.standard_normal(SHAPE).astype(np.float32)}


def reference(inputs):
    x = inputs["inputT0"]
    return {"outputT0": np.where(x >= 0, x, x * np.float32(NEG_SLOPE)).astype(np.float32)}


def print_plugin_creators():
    """Every creator that trt.init_libnvinfer_plugins registered: name, version and the fields it accepts."""
    creators = trt.get_plugin_registry().plugin_creator_list
    print(f"{len(creators)} plugin creators registered:")
    for creator in creators:
        fields = creator.field_names
        field_names = [fields[i].name for i in range(len(fields))] if fields is not None else []
        print(f"  {creator.name} (version {creator.plugin_version}, namespace '{creator.plugin_namespace}'): "
              f"{field_names}")


def create_plugin():
    registry = trt.get_plugin_registry()
    creator = registry.get_plugin_creator(PLUGIN_NAME, PLUGIN_VERSION, PLUGIN_NAMESPACE)
    if creator is None:
        raise RuntimeError(f"no plugin creator {PLUGIN_NAME} version {PLUGIN_VERSION} is registered")
    fields = trt.PluginFieldCollection([
        trt.PluginField("negSlope", np.array([NEG_SLOPE], dtype=np.float32), trt.PluginFieldType.FLOAT32),
    ])
    plugin = creator.create_plugin(PLUGIN_NAME, fields)
    if plugin is None:
        raise RuntimeError(f"{PLUGIN_NAME}: create_plugin returned None")
    return plugin


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    layer = network.add_plugin_v2([x], create_plugin())
    print(f"plugin: type = {layer.plugin.plugin_type}, version = {layer.plugin.plugin_version}, negSlope = {NEG_SLOPE}")
    layer.get_output(0).name = "outputT0"
    network.mark_output(layer.get_output(0))


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def run_engine(inputs):
    """Register the built-in plugins, build the network, run it once, return {output name: numpy array}."""
    logger = trt.Logger(trt.Logger.ERROR)
    trt.init_libnvinfer_plugins(logger, "")  # load the creators of libnvinfer_plugin into the registry
    print_plugin_creators()
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    add_layers(network, inputs)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)  # finds the plugin through the registry
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    context = engine.create_execution_context()
    return execute(engine, context, inputs)


def execute(engine, context, inputs):
    """Copy the inputs in, run the engine once on a stream, copy the outputs back: {output name: array}."""
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
    output_names = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT]
    host, device = {}, {}
    for name in input_names:
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        context.set_input_shape(name, host[name].shape)  # harmless for static shapes
    for name in output_names:  # output shapes are known once every input shape is set
        host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=trt.nptype(engine.get_tensor_dtype(name)))
    for name in names:
        device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
        context.set_tensor_address(name, device[name])

    stream = check_cuda(cudart.cudaStreamCreate())
    for name in input_names:
        check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    for name in output_names:
        check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for name in names:
        check_cuda(cudart.cudaFree(device[name]))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return {name: host[name] for name in output_names}


def compare(outputs, expected):
    """Print every output with its check; integer and boolean outputs must match exactly."""
    passed = True
    for name, value in expected.items():
        got = outputs[name]
        print(f"{name} {got.shape}:\n{got}")
        if got.shape != value.shape:
            ok, error = False, float("inf")
        else:
            error = float(np.max(np.abs(got.astype(np.float64) - value), initial=0.0))
            if value.dtype.kind in "iub":
                ok = bool(np.array_equal(got, value))
            else:
                ok = bool(np.allclose(got, value, **TOLERANCE))
        print(f"check result: {ok}, max abs error = {error:.3e}")
        passed = passed and ok
    return passed


def main():
    np.set_printoptions(precision=3, linewidth=150, suppress=True)
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"{name} {value.shape}:\n{value}")
    outputs = run_engine(inputs)
    passed = compare(outputs, reference(inputs))
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
