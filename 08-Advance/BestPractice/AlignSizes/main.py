#!/usr/bin/env python3
"""08-Advance/BestPractice/AlignSizes: FP16 matrix multiplies and convolutions whose sizes are, or are not,
multiples of 8 / 64, checked against numpy and timed side by side.

FP16 tensor-core kernels read operands in 16-byte vectors (8 halves): a dimension that is not a multiple of 8 may
need padding or a slower kernel, and tiles of 64 / 128 waste less work on multiples of 64.
- matmul_S: y [M, S] = x [M, S] @ W [S, S], M = 4096, S = 4093 (odd), 4088 (8 * 511), 4096 (64 * 64);
- conv_C: 3x3 convolution, padding 1, x [32, C, 64, 64] -> y [32, C, 64, 64], C = 63, 64.
I/O and weights are float16 (BuilderFlag.FP16); the reference is float64 numpy on the same float16 values. The
inspector's layer list shows the precision each engine chose (printed, not claimed); the table reports median
and p90 of RUNS runs (CUDA events, one process); the sizes differ a little, so compare time per work too.
"""
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 2e-2, "atol": 5e-2}  # FP16 results of O(1) from sums of up to 4096 products (kernels may
# accumulate in FP16), against float64 numpy on the same float16 inputs
FP16 = True
M, SIZES, CHANNELS, BATCH, HW = 4096, (4093, 4088, 4096), (63, 64), 32, 64
SETTING = f"FP16, matmul M = {M}, conv batch {BATCH} at {HW}x{HW}"
ROWS, COLUMNS = slice(None, None, 512), slice(None, None, 64)  # the sample of each output saved and compared
RUNS, WARMUP = 200, 20
VARIANTS = tuple(f"matmul_{s}" for s in SIZES) + tuple(f"conv_{c}" for c in CHANNELS)


def add_layers(network, variant, inputs):
    kind, size = variant.split("_")[0], int(variant.split("_")[1])
    if kind == "matmul":
        x = network.add_input("x", trt.float16, (M, size))
        weights = np.ascontiguousarray(inputs["W"][:size, :size])
        constant = network.add_constant(weights.shape, trt.Weights(weights))
        y = network.add_matrix_multiply(x, trt.MatrixOperation.NONE, constant.get_output(0),
                                        trt.MatrixOperation.NONE).get_output(0)
        feed = inputs["x"][:, :size]
    else:
        x = network.add_input("x", trt.float16, (BATCH, size, HW, HW))
        weights = np.ascontiguousarray(inputs["K"][:size, :size])
        conv = network.add_convolution_nd(x, size, (3, 3), trt.Weights(weights))
        conv.padding_nd = (1, 1)
        y = conv.get_output(0)
        feed = inputs["image"][:, :size]
    y.name = "y"
    y.dtype = trt.float16
    network.mark_output(y)
    return {"x": np.ascontiguousarray(feed)}, weights


def work(variant):
    """Floating-point operations of one run (a multiply and an add per product)."""
    size = int(variant.split("_")[1])
    return 2 * M * size * size if variant.startswith("matmul") else 2 * BATCH * HW * HW * size * size * 9


def sample(y, variant):
    return y[ROWS, COLUMNS] if variant.startswith("matmul") else y[::4, :, ::16, ::16]


def make_inputs():
    rng = np.random.default_rng(16)
    s, c = max(SIZES), max(CHANNELS)
    return {"x": rng.standard_normal((M, s)).astype(np.float16),
            "W": (rng.standard_normal((s, s)) / np.sqrt(s)).astype(np.float16),
            "image": rng.standard_normal((BATCH, c, HW, HW)).astype(np.float16),
            "K": (rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float16)}


def reference(inputs):
    result = {}
    for s in SIZES:
        x, w = inputs["x"][ROWS, :s].astype(np.float64), inputs["W"][:s, :s].astype(np.float64)
        result[f"matmul_{s}"] = (x @ w)[:, COLUMNS].astype(np.float16)
    for c in CHANNELS:  # every 4th image, every 16th pixel: sum over c and the 3x3 window of the padded image
        padded = np.pad(inputs["image"][::4, :c].astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
        kernel, pixels = inputs["K"][:c, :c].astype(np.float64), np.arange(0, HW, 16)
        y = sum(np.einsum("nchw,kc->nkhw", padded[:, :, pixels + dy][:, :, :, pixels + dx], kernel[:, :, dy, dx])
                for dy in range(3) for dx in range(3))
        result[f"conv_{c}"] = y.astype(np.float16)
    return result


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
    print("| variant | engine layers | median (ms) | p90 (ms) | TFLOP/s at the median |")
    print("|---|---:|---:|---:|---:|")
    for variant, layers, median, p90 in rows:
        print(f"| {variant} | {layers} | {median:.4f} | {p90:.4f} | {work(variant) / median / 1e9:.1f} |")
    np.savez("main.output.npz", **outputs)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
