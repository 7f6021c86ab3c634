#!/usr/bin/env python3
"""PluginV2Layer / SimpleExample: use a plugin that ships with TensorRT (libnvinfer_plugin) in a network.

trt.init_libnvinfer_plugins(logger, "") registers the built-in plugin creators; trt.get_plugin_registry() lists them.
A creator makes a plugin from a PluginFieldCollection, and add_plugin_v2(inputs, plugin) puts it into the network.

1. LReLU_TRT (version "1", field negSlope) is an old-style IPluginV2. TensorRT 8.6 refuses it in an explicit-batch
   network: the build fails with "PluginV2Layer must be V2Ext or V2IOExt or V2DynamicExt when there is no implicit
   batch dimension". The script shows that refusal (caught by a logger that collects the errors).
2. CustomGeluPluginDynamic (version "1") is an IPluginV2DynamicExt plugin and works: fields type_id (INT32, 0 = float32)
   and bias (FLOAT32 weights, one value per element of the last dimension, added before the GELU). It computes
   y = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))) with x = input + bias (the tanh approximation).
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
BIAS = np.array([0.0, 0.5, -0.5, 1.0], dtype=np.float32)  # one value per element of the last dimension (SHAPE[-1])
GELU_NAME, GELU_VERSION = "CustomGeluPluginDynamic", "1"
LRELU_NAME, LRELU_VERSION, NEG_SLOPE = "LReLU_TRT", "1", 0.1
PLUGIN_NAMESPACE = ""  # the built-in plugins are registered in the empty namespace


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"inputT0": rng.standard_normal(SHAPE).astype(np.float32)}


def reference(inputs):
    # the plugin adds the bias in float32, then evaluates the tanh approximation of GELU
    x = (inputs["inputT0"] + BIAS).astype(np.float64)
    y = 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))
    return {"outputT0": y.astype(np.float32),
            "lrelu_refused": np.array(True)}  # known in advance: TensorRT 8.6 refuses an IPluginV2 (see module doc)


class CollectingLogger(trt.ILogger):
    """A logger that prints TensorRT's errors and keeps them, so the script can show why a build failed."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.errors = []

    def log(self, severity, msg):
        if severity in (trt.ILogger.INTERNAL_ERROR, trt.ILogger.ERROR):
            self.errors.append(msg)
            print(f"[TRT] {severity.name}: {msg}")


def print_plugin_creators():
    """Name and version of every creator that trt.init_libnvinfer_plugins registered.

    Only names and versions: reading creator.field_names of every creator is not safe in 8.6.0, some creators
    (CaskConvShaderWeightsTransformerPlugin, ...) report "getFieldNames ... Not implemented!" as an internal error."""
    creators = trt.get_plugin_registry().plugin_creator_list
    entries = sorted(f"{creator.name} v{creator.plugin_version}" for creator in creators)
    print(f"{len(creators)} plugin creators registered:")
    for i in range(0, len(entries), 6):
        print("  " + ", ".join(entries[i:i + 6]))


def get_creator(name, version):
    creator = trt.get_plugin_registry().get_plugin_creator(name, version, PLUGIN_NAMESPACE)
    if creator is None:  # None when no such creator is registered
        raise RuntimeError(f"no plugin creator {name} version {version} is registered")
    return creator


def lrelu_is_refused(logger):
    """Step 1: an old-style IPluginV2 (LReLU_TRT) in an explicit-batch network. Returns True when TensorRT refused it."""
    creator = get_creator(LRELU_NAME, LRELU_VERSION)
    neg_slope = np.array([NEG_SLOPE], dtype=np.float32)  # must stay alive until create_plugin has read it
    plugin = creator.create_plugin(LRELU_NAME, trt.PluginFieldCollection([
        trt.PluginField("negSlope", neg_slope, trt.PluginFieldType.FLOAT32)]))
    if plugin is None:
        print(f"{LRELU_NAME}: create_plugin returned None")
        return True
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    x = network.add_input("inputT0", trt.float32, SHAPE)
    layer = network.add_plugin_v2([x], plugin)
    if layer is None:
        print(f"{LRELU_NAME}: add_plugin_v2 returned None")
        return True
    network.mark_output(layer.get_output(0))
    errors_before = len(logger.errors)
    serialized = builder.build_serialized_network(network, config)
    refused = serialized is None or len(logger.errors) > errors_before
    print(f"{LRELU_NAME} (IPluginV2) in an explicit-batch network: build_serialized_network returned "
          f"{'None' if serialized is None else 'an engine'} -> refused = {refused}")
    return refused


def create_gelu_plugin():
    """Step 2: the IPluginV2DynamicExt plugin CustomGeluPluginDynamic, with its fields printed."""
    creator = get_creator(GELU_NAME, GELU_VERSION)
    fields = creator.field_names
    print(f"{GELU_NAME} v{GELU_VERSION} accepts: "
          f"{[(fields[i].name, fields[i].type.name) for i in range(len(fields))]}")
    type_id = np.array([0], dtype=np.int32)  # 0 = DataType.FLOAT: the plugin runs in float32
    bias = BIAS  # both arrays must stay alive until create_plugin has read them (it copies the bias to the GPU)
    plugin = creator.create_plugin(GELU_NAME, trt.PluginFieldCollection([
        trt.PluginField("type_id", type_id, trt.PluginFieldType.INT32),
        trt.PluginField("bias", bias, trt.PluginFieldType.FLOAT32),
    ]))
    if plugin is None:
        raise RuntimeError(f"{GELU_NAME}: create_plugin returned None")
    return plugin


def add_layers(network, inputs):
    x = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    layer = network.add_plugin_v2([x], create_gelu_plugin())
    print(f"plugin layer: type = {layer.plugin.plugin_type}, version = {layer.plugin.plugin_version}, "
          f"bias = {BIAS.tolist()}")
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
    """Register the built-in plugins, show the refused IPluginV2, then build and run the GELU network once."""
    logger = CollectingLogger()
    trt.init_libnvinfer_plugins(logger, "")  # load the creators of libnvinfer_plugin into the registry
    print_plugin_creators()
    lrelu_refused = lrelu_is_refused(logger)

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
    outputs = execute(engine, context, inputs)
    outputs["lrelu_refused"] = np.array(lrelu_refused)
    return outputs


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
