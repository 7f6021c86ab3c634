#!/usr/bin/env python3
"""08-Advance/BestPractice/EliminateShuffles: y = ReLU(2x + 1) with and without the squeeze / unsqueeze / transpose
chains that exporters leave around pointwise layers; checked against numpy and timed side by side.

x [16, 64, 128, 128] float32 (64 MiB).
- chains: x * 2 -> reshape [16, 64, 16384] -> transpose (0,2,1) -> transpose (0,2,1) -> reshape back -> unsqueeze
  to [16, 1, 64, 128, 128] -> squeeze back -> + 1 -> ReLU: every shuffle pair cancels out;
- transpose_around: NCHW -> NHWC -> (x * 2 + 1, ReLU) -> NCHW: a layout round trip around pointwise work;
- direct: x * 2 -> + 1 -> ReLU.
All three compute the same y. TensorRT removes or fuses some shuffles itself: the inspector's layer list and the
timing table (median and p90 of RUNS runs, CUDA events, one process) show what was left, per variant.
"""
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}  # 2x + 1 and ReLU are exact up to one rounding
FP16 = False
SHAPE = (16, 64, 128, 128)
SETTING = f"x {list(SHAPE)} float32"
SAMPLE = (slice(None, None, 4), slice(None, None, 8), slice(None, None, 16), slice(None, None, 16))  # y[4, 8, 8, 8]
RUNS, WARMUP = 200, 20
VARIANTS = ("chains", "transpose_around", "direct")


def pointwise(network, x, keep):
    """x * 2 + 1 (constants broadcast over every axis), then ReLU; the numpy constants go to `keep`."""
    for value, operation in ((2.0, trt.ElementWiseOperation.PROD), (1.0, trt.ElementWiseOperation.SUM)):
        keep.append(np.full((1,) * len(x.shape), value, dtype=np.float32))
        constant = network.add_constant(keep[-1].shape, trt.Weights(keep[-1]))
        x = network.add_elementwise(x, constant.get_output(0), operation).get_output(0)
    return network.add_activation(x, trt.ActivationType.RELU).get_output(0)


def shuffle(network, x, reshape=None, transpose=None):
    layer = network.add_shuffle(x)
    if transpose is not None:
        layer.first_transpose = transpose
    if reshape is not None:
        layer.reshape_dims = reshape
    return layer.get_output(0)


def add_layers(network, variant, inputs):
    x = network.add_input("x", trt.float32, SHAPE)
    n, c, h, w = SHAPE
    keep = []
    if variant == "chains":
        keep.append(np.full((1, 1, 1, 1), 2.0, dtype=np.float32))
        t = network.add_elementwise(x, network.add_constant(keep[-1].shape, trt.Weights(keep[-1])).get_output(0),
                                    trt.ElementWiseOperation.PROD).get_output(0)
        t = shuffle(network, t, reshape=(n, c, h * w))
        t = shuffle(network, t, transpose=(0, 2, 1))
        t = shuffle(network, t, transpose=(0, 2, 1))
        t = shuffle(network, t, reshape=(n, c, h, w))
        t = shuffle(network, t, reshape=(n, 1, c, h, w))  # unsqueeze(1)
        t = shuffle(network, t, reshape=(n, c, h, w))  # squeeze(1)
        keep.append(np.full((1, 1, 1, 1), 1.0, dtype=np.float32))
        t = network.add_elementwise(t, network.add_constant(keep[-1].shape, trt.Weights(keep[-1])).get_output(0),
                                    trt.ElementWiseOperation.SUM).get_output(0)
        y = network.add_activation(t, trt.ActivationType.RELU).get_output(0)
    elif variant == "transpose_around":
        t = pointwise(network, shuffle(network, x, transpose=(0, 2, 3, 1)), keep)
        y = shuffle(network, t, transpose=(0, 3, 1, 2))
    else:  # direct
        y = pointwise(network, x, keep)
    y.name = "y"
    network.mark_output(y)
    return {"x": inputs["x"]}, keep


def sample(y, variant):
    return y[SAMPLE]


def make_inputs():
    return {"x": np.random.default_rng(5).standard_normal(SHAPE).astype(np.float32)}


def reference(inputs):
    y = np.maximum(inputs["x"][SAMPLE].astype(np.float64) * 2 + 1, 0).astype(np.float32)
    return {variant: y for variant in VARIANTS}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def build(logger, variant, inputs):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 stays FP32 (TensorRT enables TF32 by default)
    if FP16:
        config.set_flag(trt.BuilderFlag.FP16)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector names every layer it kept
    feed, keep_alive = add_layers(network, variant, inputs)
    serialized = builder.build_serialized_network(network, config)
    del keep_alive  # numpy weights must live until the build ends
    if serialized is None:
        raise RuntimeError(f"{variant}: build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError(f"{variant}: deserialize_cuda_engine failed")
    return engine, feed


class Runner:
    """One context of an engine with static shapes: a device buffer per I/O tensor, one stream."""

    def __init__(self, engine, feed):
        self.engine, self.context = engine, engine.create_execution_context()
        self.stream = check_cuda(cudart.cudaStreamCreate())
        self.host, self.device = {}, {}
        for name in (engine.get_tensor_name(i) for i in range(engine.num_io_tensors)):
            dtype = trt.nptype(engine.get_tensor_dtype(name))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.host[name] = np.ascontiguousarray(feed[name], dtype=dtype)
            else:
                self.host[name] = np.empty(tuple(self.context.get_tensor_shape(name)), dtype=dtype)
            self.device[name] = check_cuda(cudart.cudaMalloc(self.host[name].nbytes))
            self.context.set_tensor_address(name, self.device[name])
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:  # inputs are copied once
                check_cuda(cudart.cudaMemcpy(self.device[name], self.host[name].ctypes.data, self.host[name].nbytes,
                                             cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))

    def execute(self):
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("execute_async_v3 failed")

    def run(self, name):
        """Run once, return output `name`."""
        self.execute()
        check_cuda(cudart.cudaMemcpyAsync(self.host[name].ctypes.data, self.device[name], self.host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        check_cuda(cudart.cudaStreamSynchronize(self.stream))
        return self.host[name].copy()

    def time(self):
        """Median and p90 (ms) of RUNS executions after WARMUP, each between two CUDA events on the stream."""
        start, end = check_cuda(cudart.cudaEventCreate()), check_cuda(cudart.cudaEventCreate())
        for _ in range(WARMUP):
            self.execute()
        times = []
        for _ in range(RUNS):
            check_cuda(cudart.cudaEventRecord(start, self.stream))
            self.execute()
            check_cuda(cudart.cudaEventRecord(end, self.stream))
            check_cuda(cudart.cudaEventSynchronize(end))
            times.append(check_cuda(cudart.cudaEventElapsedTime(start, end)))
        for event in (start, end):
            check_cuda(cudart.cudaEventDestroy(event))
        return float(np.median(times)), float(np.percentile(times, 90))

    def layers(self):
        """The engine's layers as the inspector prints them (one line each)."""
        inspector = self.engine.create_engine_inspector()
        inspector.execution_context = self.context
        return [inspector.get_layer_information(i, trt.LayerInformationFormat.ONELINE).strip()
                for i in range(self.engine.num_layers)]

    def free(self):
        for pointer in self.device.values():
            check_cuda(cudart.cudaFree(pointer))
        check_cuda(cudart.cudaStreamDestroy(self.stream))


def check(label, got, want):
    if got.shape != want.shape or got.dtype != want.dtype:
        print(f"check result: False, {label}: got {got.shape} {got.dtype}, expected {want.shape} {want.dtype}")
        return False
    same = bool(np.allclose(got, want, **TOLERANCE))
    print(f"check result: {same}, {label}: max abs error = {float(np.max(np.abs(got - want))):.3e}")
    return same


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    inputs = make_inputs()
    expected = reference(inputs)
    passed, outputs, rows = True, {}, []
    for variant in VARIANTS:
        engine, feed = build(logger, variant, inputs)
        runner = Runner(engine, feed)
        print(f"=== {variant}: {engine.num_layers} layer(s) in the engine")
        for line in runner.layers():
            print(f"  {line}")
        outputs[variant] = sample(runner.run("y"), variant)
        passed = check(variant, outputs[variant], expected[variant]) and passed
        rows.append((variant, engine.num_layers) + runner.time())
        runner.free()
        del runner, engine
    print(f"\n{RUNS} runs after {WARMUP} warm-up runs, CUDA events, {SETTING}")
    print(f"| variant | engine layers | median (ms) | p90 (ms) | median / {VARIANTS[0]} |")
    print("|---|---:|---:|---:|---:|")
    for variant, layers, median, p90 in rows:
        print(f"| {variant} | {layers} | {median:.4f} | {p90:.4f} | {median / rows[0][2]:.2f} |")
    np.savez("main.output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
