#!/usr/bin/env python3
"""05-Plugin/CallSequence: when TensorRT calls each method of a plugin and of its creator.

CallSequencePlugin.so is the AddScalar plugin (output = input + scalar) with every method logging its call, as
"CallSequence#<object id> <method> <details>" (object ids tell the clones apart) or "Creator <method>", on stdout and
appended to the file named by the environment variable CALL_SEQUENCE_LOG. This script sets that variable, then goes
through the life of a plugin one phase at a time, writing "=== <phase>" into the same file before each:
load library, create plugin, add to network, build, destroy network, deserialize, create context, set input shape,
execute twice, set another input shape, execute once, serialize engine, destroy context, destroy engine.
It prints the calls grouped by phase and checks what TensorRT's documentation (NvInferRuntime.h,
NvInferRuntimePlugin.h) says about them, saved as booleans whose reference is True:
  create_calls_createPlugin      creator.create_plugin() is the creator's createPlugin
  build_asks_formats             the builder asks supportsFormatCombination
  build_clones                   the builder works on clones of the network's plugin
  build_serializes               build_serialized_network writes the plugin's bytes (getSerializationSize, serialize)
  deserialize_uses_creator       deserializing calls the creator's deserializePlugin
  enqueue_once_per_execute       each execute_async_v3 calls enqueue exactly once (2 and 1 calls)
  configure_before_first_enqueue at run time configurePlugin comes before the first enqueue
  configure_on_new_shape         after set_input_shape with a new shape, configurePlugin comes before the next enqueue
  serialize_on_engine_serialize  engine.serialize() calls the plugin's serialize
  destroy_with_engine            deleting the engine destroys (or terminates) its plugin objects
and the two results (outputT0 at (2, 3, 4, 5), outputT0_shapeB at (1, 6, 4, 5)) against numpy.
The phases are the script's topic, so its run code is written out here (it is listed in INLINE, tests/test_run_block.py).
"""
import ctypes
import os
import re
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 kernel, exact sums
PLUGIN_LIBRARY = "./CallSequencePlugin.so"  # built by `make`
LOG_FILE = "CallSequence.calls.log"  # the plugin appends one line per call; "=== phase" lines come from here
SCALAR = 1.25
SHAPE_A, SHAPE_B = (2, 3, 4, 5), (1, 6, 4, 5)
FACTS = ("create_calls_createPlugin", "build_asks_formats", "build_clones", "build_serializes",
         "deserialize_uses_creator", "enqueue_once_per_execute", "configure_before_first_enqueue",
         "configure_on_new_shape", "serialize_on_engine_serialize", "destroy_with_engine")


def make_inputs():
    def values(shape):
        return ((np.arange(np.prod(shape)) % 23 - 11) * 0.5).astype(np.float32).reshape(shape)
    return {"inputT0": values(SHAPE_A), "inputT0_shapeB": values(SHAPE_B)}


def reference(inputs):  # the sums, and what the documentation says about the calls
    result = {"outputT0": inputs["inputT0"] + np.float32(SCALAR),
              "outputT0_shapeB": inputs["inputT0_shapeB"] + np.float32(SCALAR)}
    result.update({fact: np.array(True) for fact in FACTS})
    return result


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    return None if not values else values[0] if len(values) == 1 else values


def phase(name):
    """Marks the start of a phase in the call log (and on stdout, between the plugin's own lines)."""
    print(f"=== {name}", flush=True)
    with open(LOG_FILE, "a") as f:
        f.write(f"=== {name}\n")


def read_calls():
    """[(phase, who, method, line)] from the log file, in order: who is "Creator" or "CallSequence#<id>"."""
    calls, current = [], "before"
    with open(LOG_FILE) as f:
        for line in f.read().splitlines():
            if line.startswith("=== "):
                current = line[4:]
            elif line:
                who, rest = (line.split(" ", 1) + [""])[:2]
                calls.append((current, who, re.match(r"\w*", rest).group(0), line))
    return calls


def execute(context, stream, x, times):
    """Copy x in, execute `times` times, copy the output back (shapes already set)."""
    out = np.empty(tuple(context.get_tensor_shape("outputT0")), dtype=np.float32)
    d_in, d_out = check_cuda(cudart.cudaMalloc(x.nbytes)), check_cuda(cudart.cudaMalloc(out.nbytes))
    context.set_tensor_address("inputT0", d_in)
    context.set_tensor_address("outputT0", d_out)
    check_cuda(cudart.cudaMemcpyAsync(d_in, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                      stream))
    for _ in range(times):
        if not context.execute_async_v3(int(stream)):
            raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(out.ctypes.data, d_out, out.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    check_cuda(cudart.cudaFree(d_in))
    check_cuda(cudart.cudaFree(d_out))
    return out


def run_phases(inputs):
    logger = trt.Logger(trt.Logger.ERROR)
    phase("load library")
    ctypes.CDLL(os.path.abspath(PLUGIN_LIBRARY), mode=ctypes.RTLD_GLOBAL)
    phase("create plugin")
    creator = trt.get_plugin_registry().get_plugin_creator("CallSequence", "1", "")
    if creator is None:
        raise RuntimeError(f"no creator CallSequence version 1: was {PLUGIN_LIBRARY} built (make)?")
    fields = [trt.PluginField("scalar", np.array([SCALAR], dtype=np.float32), trt.PluginFieldType.FLOAT32)]
    plugin = creator.create_plugin("callSequence", trt.PluginFieldCollection(fields))
    phase("add to network")
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    x = network.add_input("inputT0", trt.float32, (-1, -1, 4, 5))
    layer = network.add_plugin_v2([x], plugin)
    layer.get_output(0).name = "outputT0"
    network.mark_output(layer.get_output(0))
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("inputT0", (1, 1, 4, 5), SHAPE_A, (4, 6, 4, 5))
    config.add_optimization_profile(profile)
    phase("build")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed")
    phase("destroy network")
    del x, layer, network, plugin, config, builder
    phase("deserialize")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    phase("create context")
    context = engine.create_execution_context()
    stream = check_cuda(cudart.cudaStreamCreate())
    phase("set input shape A")
    context.set_input_shape("inputT0", SHAPE_A)
    phase("execute twice at shape A")
    outputs = {"outputT0": execute(context, stream, inputs["inputT0"], 2)}
    phase("set input shape B")
    context.set_input_shape("inputT0", SHAPE_B)
    phase("execute once at shape B")
    outputs["outputT0_shapeB"] = execute(context, stream, inputs["inputT0_shapeB"], 1)
    phase("serialize engine")
    engine.serialize()
    phase("destroy context")
    del context
    phase("destroy engine")
    del engine
    phase("end")
    check_cuda(cudart.cudaStreamDestroy(stream))
    return outputs


def facts(calls):
    """The documented facts, read from the call log."""
    def methods(*phases):  # the plugin's and the creator's methods called during these phases, in order
        return [method for p, who, method, line in calls if p in phases]

    def before(sequence, first, second):
        return first in sequence and second in sequence and sequence.index(first) < sequence.index(second)
    run_time = methods("deserialize", "create context", "set input shape A", "execute twice at shape A")
    return {
        "create_calls_createPlugin": "createPlugin" in methods("create plugin"),
        "build_asks_formats": "supportsFormatCombination" in methods("build"),
        "build_clones": "clone" in methods("build"),
        "build_serializes": "getSerializationSize" in methods("build") and "serialize" in methods("build"),
        "deserialize_uses_creator": any(who == "Creator" and method == "deserializePlugin"
                                        for p, who, method, line in calls if p == "deserialize"),
        "enqueue_once_per_execute": (methods("execute twice at shape A").count("enqueue") == 2
                                     and methods("execute once at shape B").count("enqueue") == 1),
        "configure_before_first_enqueue": before(run_time, "configurePlugin", "enqueue"),
        "configure_on_new_shape": before(methods("set input shape B", "execute once at shape B"),
                                         "configurePlugin", "enqueue"),
        "serialize_on_engine_serialize": "serialize" in methods("serialize engine"),
        "destroy_with_engine": any(m in ("destroy", "terminate") for m in methods("destroy engine")),
    }


def main():
    np.set_printoptions(precision=4, linewidth=120, suppress=True)
    if os.path.exists(LOG_FILE):
        os.remove(LOG_FILE)
    os.environ["CALL_SEQUENCE_LOG"] = os.path.abspath(LOG_FILE)  # read by the plugin at each call
    inputs = make_inputs()
    outputs = run_phases(inputs)
    calls = read_calls()
    print("\nthe calls, by phase (a line repeated n times in a row is shown once, with x n):")
    shown, previous, count = None, None, 0
    for p, who, method, line in calls + [("end", "", "", None)]:
        if (p, line) != previous:
            if previous is not None and previous[1] is not None:
                print(f"      {previous[1]}" + (f"  x {count}" if count > 1 else ""))
            previous, count = (p, line), 0
        count += 1
        if p != shown and line is not None:
            print(f"  [{p}]")
            shown = p
    outputs.update({name: np.array(value) for name, value in facts(calls).items()})
    expected = reference(inputs)
    passed = True
    for name, want in expected.items():
        got = outputs[name]
        if want.dtype.kind == "f":
            same = got.shape == want.shape and bool(np.allclose(got, want, **TOLERANCE))
        else:
            same = bool(np.array_equal(got, want))
        print(f"check result: {same}, {name}: {got if got.ndim == 0 else got.shape}")
        passed = passed and same
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
