#!/usr/bin/env python3
"""05-Plugin/WeightsAndAttributes: a plugin with weights and attributes, serialized into the plan, and the plan
reloaded in a fresh process with and without the plugin library.

ChannelAffineClip (ChannelAffineClipPlugin.cu): y = clip(x * weight[c] + bias[c], clip_min, clip_max) along the last
axis. The script writes the weights to weights.npz (seeded), reads them back and hands them, with the attributes
clip_min and clip_max, to the creator as PluginFields; the plugin copies them and writes them into the plan in
serialize(). Then two fresh Python processes (this script with --reload) load main.plan:
- with ChannelAffineClipPlugin.so loaded (ctypes): the registry has the creator, deserializePlugin reads the weights
  back from the plan, the engine runs; y is checked against numpy. weights.npz is deleted before: the plan holds them.
- without it: deserialize_cuda_engine returns None and TensorRT logs that it found no creator for the plugin.
Inline (no run block): the topic is loading the plan in another process, which the run block does not do.
"""
import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
PLUGIN_LIBRARY = "./ChannelAffineClipPlugin.so"  # make builds it
PLAN_FILE, WEIGHTS_FILE = "main.plan", "weights.npz"
CHANNELS, CLIP_MIN, CLIP_MAX = 8, -1.0, 1.5
# What TensorRT 8.6 logs when a plan names a plugin whose creator is not registered (either line is accepted).
MISSING_CREATOR = ("IPluginCreator not found", "could not find plugin")


class CollectingLogger(trt.ILogger):
    """Prints and keeps every message at WARNING or above."""

    def __init__(self):
        trt.ILogger.__init__(self)
        self.messages = []

    def log(self, severity, msg):
        if int(severity) <= int(trt.ILogger.Severity.WARNING):
            print(f"    [TRT] {severity.name}: {msg}")
            self.messages.append(msg)


def make_weights():
    rng = np.random.default_rng(2024)
    sign = np.where(np.arange(CHANNELS) % 2 == 0, 1.0, -1.0)  # negative weights too
    return {"weight": (rng.uniform(0.5, 2.0, CHANNELS) * sign).astype(np.float32),
            "bias": rng.normal(0, 0.5, CHANNELS).astype(np.float32)}


def make_inputs():
    return {"x": np.random.default_rng(31193).normal(0, 1.5, (2, 3, CHANNELS)).astype(np.float32)}


def reference(inputs):
    """numpy with the same seeded weights; the documented failure without the library."""
    w = make_weights()
    y = np.clip(inputs["x"] * w["weight"] + w["bias"], CLIP_MIN, CLIP_MAX).astype(np.float32)
    return {"y": y, "without_library_engine_is_none": np.array(True),
            "without_library_error_names_missing_creator": np.array(True)}


def build_plan(inputs):
    """weights.npz -> PluginFields -> plugin -> network -> main.plan (in this process, with the library loaded)."""
    ctypes.CDLL(PLUGIN_LIBRARY, mode=ctypes.RTLD_GLOBAL)  # its static initializer registers the creator
    np.savez(WEIGHTS_FILE, **make_weights())
    weights = np.load(WEIGHTS_FILE)
    creator = trt.get_plugin_registry().get_plugin_creator("ChannelAffineClip", "1", "")
    if creator is None:
        raise RuntimeError(f"ChannelAffineClip is not registered: was {PLUGIN_LIBRARY} built (make)?")
    fields = creator.field_names  # a PluginFieldCollection_: len() and [i]
    print("creator fields: " + ", ".join(f"{fields[i].name} ({fields[i].type.name})" for i in range(len(fields))))
    arrays = {"weight": weights["weight"], "bias": weights["bias"],  # weights: arrays of CHANNELS float32
              "clip_min": np.array([CLIP_MIN], np.float32), "clip_max": np.array([CLIP_MAX], np.float32)}  # attributes
    fields = trt.PluginFieldCollection([trt.PluginField(name, value, trt.PluginFieldType.FLOAT32)
                                        for name, value in arrays.items()])  # arrays holds the data meanwhile
    plugin = creator.create_plugin("affine", fields)  # the plugin copies the arrays: they may go now
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    x = network.add_input("x", trt.float32, inputs["x"].shape)
    layer = network.add_plugin_v2([x], plugin)
    layer.get_output(0).name = "y"
    network.mark_output(layer.get_output(0))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed")
    with open(PLAN_FILE, "wb") as f:
        f.write(serialized)
    print(f"saved {PLAN_FILE}: {serialized.nbytes} bytes, holding the {2 * CHANNELS} weights and 2 attributes")
    weights.close()
    os.remove(WEIGHTS_FILE)  # the processes below have only the plan (and, for one, the library)
    print(f"removed {WEIGHTS_FILE}")


def reload_and_run(with_library, result_file):
    """In a fresh process: load main.plan (with or without the library), run it, save what happened."""
    if with_library:
        ctypes.CDLL(PLUGIN_LIBRARY, mode=ctypes.RTLD_GLOBAL)
    logger = CollectingLogger()
    with open(PLAN_FILE, "rb") as f:
        engine = trt.Runtime(logger).deserialize_cuda_engine(f.read())
    print(f"  deserialize_cuda_engine: {'an engine' if engine is not None else None}")
    result = {"engine_is_none": np.array(engine is None), "messages": np.array(logger.messages + [""])}
    if engine is not None:
        result["y"] = run(engine, make_inputs())
    np.savez(result_file, **result)
    return True


def run(engine, inputs):
    context = engine.create_execution_context()
    stream = check_cuda(cudart.cudaStreamCreate())
    x = np.ascontiguousarray(inputs["x"])
    y = np.empty(tuple(context.get_tensor_shape("y")), np.float32)
    x_device, y_device = check_cuda(cudart.cudaMalloc(x.nbytes)), check_cuda(cudart.cudaMalloc(y.nbytes))
    context.set_tensor_address("x", x_device)
    context.set_tensor_address("y", y_device)
    check_cuda(cudart.cudaMemcpyAsync(x_device, x.ctypes.data, x.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(y.ctypes.data, y_device, y.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in (x_device, y_device):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return y


def in_fresh_process(with_library):
    fd, path = tempfile.mkstemp(suffix=".npz", dir=".")
    os.close(fd)
    try:
        mode = "with-library" if with_library else "without-library"
        print(f"=== a fresh process loads {PLAN_FILE} {mode.replace('-', ' ')}: python3 main.py --reload {mode}")
        subprocess.run([sys.executable, os.path.abspath(__file__), "--reload", mode, path], check=True)
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    finally:
        os.remove(path)


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--reload":
        return reload_and_run(sys.argv[2] == "with-library", sys.argv[3])
    np.set_printoptions(precision=4, linewidth=120, suppress=True)
    inputs = make_inputs()
    build_plan(inputs)
    loaded, refused = in_fresh_process(True), in_fresh_process(False)
    if "y" not in loaded:
        raise RuntimeError("the control failed: the plan did not load with the library loaded")
    outputs = {"y": loaded["y"], "without_library_engine_is_none": np.array(bool(refused["engine_is_none"])),
               "without_library_error_names_missing_creator": np.array(
                   any(text in str(m) for m in refused["messages"] for text in MISSING_CREATOR))}
    passed = True
    for name, want in reference(inputs).items():
        got = outputs[name]
        same = got.shape == want.shape and got.dtype == want.dtype and (
            np.allclose(got, want, **TOLERANCE) if want.dtype.kind == "f" else np.array_equal(got, want))
        print(f"check result: {same}, {name}: got {got if got.ndim == 0 else got.shape}")
        passed = passed and same
    np.savez("main.output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
