#!/usr/bin/env python3
"""08-Advance/Refit: give an engine built from an ONNX model the weights of a newer ONNX model (same graph, new
weights) by initializer name, with a dynamic batch; refit time against rebuild time.

The two models (written with onnx.helper): x [batch,3,16,16] -> Conv "conv1" (weights "conv1.weight", bias
"conv1.bias", 8 maps, 3x3, pads 1) -> Relu -> Conv "conv2" ("conv2.weight", "conv2.bias", 4 maps) -> y
[batch,4,16,16]; model_old.onnx and model_new.onnx differ only in the values of the four initializers.
1. Parse model_old.onnx, build with BuilderFlag.REFIT and a profile for batch 1..8 (engines with dynamic shapes are
   refittable since TensorRT 8.5), run batches 2 and 5.
2. trt.Refitter(engine, logger).get_all_weights(): the ONNX parser names each refittable weight after its
   initializer, so the new model's initializers are matched by name: set_named_weights(name, trt.Weights(array))
   for each, get_missing_weights() is then empty, refit_cuda_engine() returns True. (TensorRT 8.6 has no
   OnnxParserRefitter, the helper that reads the initializers from the ONNX file itself: that came with 10.0.)
3. Run both batches again in a new execution context: the new model's result.
4. Timed: the refit (set_named_weights of all four + refit_cuda_engine, median and p90 of REFITS runs, host clock:
   it is a host call that ends when the engine is updated) against parsing and building model_new.onnx from scratch
   (median of REBUILDS builds); printed as a markdown table and saved to main.timings.json (reported, not checked).
Checked: the outputs before (old weights) and after the refit (new weights) against float64 numpy.
02-API/Refit shows the Refitter itself (set_weights by layer and role, its refusals); this is the ONNX workflow.
"""
import json
import sys
import time

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

BATCHES = (2, 5)
SHAPES = {"conv1.weight": (8, 3, 3, 3), "conv1.bias": (8,), "conv2.weight": (4, 8, 3, 3), "conv2.bias": (4,)}
REFITS, REBUILDS = 100, 3  # a refit takes milliseconds, a build seconds
# FP32 (TF32 cleared) against float64 numpy; sums of 27 and 72 products.
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def make_inputs():
    rng = np.random.default_rng(86)
    inputs = {f"x_b{b}": rng.standard_normal((b, 3, 16, 16)).astype(np.float32) for b in BATCHES}
    for model in ("old", "new"):
        for name, shape in SHAPES.items():
            inputs[f"{model}/{name}"] = (rng.standard_normal(shape) * 0.3).astype(np.float32)
    return inputs


def conv3x3(x, w, b):
    """NCHW convolution, stride 1, padding 1, with bias (float64)."""
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3), (2, 3))
    return np.einsum("nchwij,ocij->nohw", windows, w) + b[None, :, None, None]


def reference(inputs):
    outputs = {}
    for model in ("old", "new"):
        p = {name: inputs[f"{model}/{name}"].astype(np.float64) for name in SHAPES}
        for b in BATCHES:
            h = np.maximum(conv3x3(inputs[f"x_b{b}"].astype(np.float64), p["conv1.weight"], p["conv1.bias"]), 0)
            outputs[f"y_{model}_b{b}"] = conv3x3(h, p["conv2.weight"], p["conv2.bias"]).astype(np.float32)
    return outputs


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def write_onnx(path, weights):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["h"], "conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"], "relu"),
             helper.make_node("Conv", ["r", "conv2.weight", "conv2.bias"], ["y"], "conv2", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(
        nodes, "refit", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 16, 16])],
        [numpy_helper.from_array(weights[name], name) for name in SHAPES])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="trt-cookbook")
    model.ir_version = 8  # the IR version of opset 17; TensorRT 8.6's parser knows up to this one
    onnx.checker.check_model(model)
    onnx.save(model, path)


def build_from_onnx(logger, path, refit):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(path):
        raise RuntimeError("; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    if refit:
        config.set_flag(trt.BuilderFlag.REFIT)
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 3, 16, 16), (4, 3, 16, 16), (8, 3, 16, 16))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed")
    return engine


def run(engine, x):
    """One inference in a fresh execution context (NvInferRuntime.h: contexts created before a refit are stale)."""
    context = engine.create_execution_context()
    stream = check_cuda(cudart.cudaStreamCreate())
    context.set_input_shape("x", x.shape)
    y = np.empty(tuple(context.get_tensor_shape("y")), dtype=np.float32)
    d_x, d_y = check_cuda(cudart.cudaMalloc(x.nbytes)), check_cuda(cudart.cudaMalloc(y.nbytes))
    context.set_tensor_address("x", d_x)
    context.set_tensor_address("y", d_y)
    check_cuda(cudart.cudaMemcpyAsync(d_x, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                      stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(y.ctypes.data, d_y, y.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost,
                                      stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in (d_x, d_y):
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return y


def refit_from_onnx(refitter, path):
    """Every refittable weight the engine names, taken from the ONNX file's initializer of that name."""
    import onnx
    from onnx import numpy_helper

    initializers = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    keep_alive = []  # the arrays must live until refit_cuda_engine() has copied them
    for name in refitter.get_all_weights():
        if name in initializers:
            keep_alive.append(np.ascontiguousarray(initializers[name], dtype=np.float32))
            if not refitter.set_named_weights(name, trt.Weights(keep_alive[-1])):
                raise RuntimeError(f"set_named_weights({name}) refused")
    missing = refitter.get_missing_weights()
    if missing:
        raise RuntimeError(f"weights still missing: {missing}")
    return refitter.refit_cuda_engine()


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    inputs = make_inputs()
    expected = reference(inputs)
    for model in ("old", "new"):
        write_onnx(f"model_{model}.onnx", {name: inputs[f"{model}/{name}"] for name in SHAPES})
    engine = build_from_onnx(logger, "model_old.onnx", refit=True)
    print(f"engine.refittable = {engine.refittable}")
    outputs = {f"y_old_b{b}": run(engine, inputs[f"x_b{b}"]) for b in BATCHES}

    refitter = trt.Refitter(engine, logger)
    print(f"refitter.get_all_weights() = {sorted(refitter.get_all_weights())}")
    ok = refit_from_onnx(refitter, "model_new.onnx")
    print(f"refit_cuda_engine() with the initializers of model_new.onnx = {ok}")
    outputs.update({f"y_new_b{b}": run(engine, inputs[f"x_b{b}"]) for b in BATCHES})
    passed = ok
    for name, want in expected.items():
        same = bool(np.allclose(outputs[name], want, **TOLERANCE))
        print(f"check result: {same}, {name}: max abs error = {float(np.max(np.abs(outputs[name] - want))):.3e}")
        passed = passed and same
    np.savez("main.output.npz", **outputs)

    refit_ms = []
    for i in range(REFITS):  # alternate the two models, ending with the new one
        t0 = time.perf_counter()
        refit_from_onnx(refitter, "model_new.onnx" if i % 2 else "model_old.onnx")
        refit_ms.append((time.perf_counter() - t0) * 1000)
    rebuild_ms = []
    for _ in range(REBUILDS):
        t0 = time.perf_counter()
        build_from_onnx(logger, "model_new.onnx", refit=False)
        rebuild_ms.append((time.perf_counter() - t0) * 1000)
    rows = {"refit (read ONNX + set_named_weights + refit_cuda_engine)": refit_ms,
            "rebuild (parse ONNX + build + deserialize)": rebuild_ms}
    print("\n| way | runs | median (ms) | p90 (ms) |\n|---|---:|---:|---:|")
    for way, times in rows.items():
        print(f"| {way} | {len(times)} | {np.median(times):.2f} | {np.percentile(times, 90):.2f} |")
    with open("main.timings.json", "w") as f:
        json.dump({way: {"runs": len(t), "median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90))}
                   for way, t in rows.items()}, f, indent=1)
    print("(timings saved to main.timings.json; they are reported, not checked)")
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
