#!/usr/bin/env python3
"""08-Advance/ProblemSolving/MissingPlugin / build_plan.py: the "other process" that made the plan.

It registers TensorRT's built-in plugins (trt.init_libnvinfer_plugins), builds x [2, 3, 4] -> CustomGeluPluginDynamic
(version "1", fields type_id = 0: float32, bias [4]) -> y, and writes the plan to gelu.plan. main.py runs it in a
subprocess, so main.py's own process starts with an empty plugin registry.
"""
import sys

import numpy as np
import tensorrt as trt

SHAPE = (2, 3, 4)
BIAS = np.array([0.0, 0.5, -0.5, 1.0], dtype=np.float32)  # one value per element of the last dimension
PLAN = "gelu.plan"


def main():
    logger = trt.Logger(trt.Logger.WARNING)
    if not trt.init_libnvinfer_plugins(logger, ""):
        raise RuntimeError("init_libnvinfer_plugins failed")
    creator = trt.get_plugin_registry().get_plugin_creator("CustomGeluPluginDynamic", "1", "")
    if creator is None:
        raise RuntimeError("no plugin creator CustomGeluPluginDynamic version 1 is registered")
    type_id = np.array([0], dtype=np.int32)  # the field arrays must stay alive until create_plugin returns
    plugin = creator.create_plugin("gelu", trt.PluginFieldCollection([
        trt.PluginField("type_id", type_id, trt.PluginFieldType.INT32),
        trt.PluginField("bias", BIAS, trt.PluginFieldType.FLOAT32)]))
    if plugin is None:
        raise RuntimeError("create_plugin returned None")
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    x = network.add_input("x", trt.float32, SHAPE)
    layer = network.add_plugin_v2([x], plugin)
    layer.get_output(0).name = "y"
    network.mark_output(layer.get_output(0))
    serialized = builder.build_serialized_network(network, builder.create_builder_config())
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    with open(PLAN, "wb") as f:
        f.write(serialized)
    print(f"build_plan.py: wrote {PLAN} ({serialized.nbytes} bytes), a plan with a CustomGeluPluginDynamic layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
