#!/usr/bin/env python3
"""08-Advance/BestPractice/TransposeMatmulToConv: a per-pixel linear map on an NCHW feature map, written as
transpose + MatMul + transpose (as exported from `(x.permute(0, 2, 3, 1) @ W.T).permute(0, 3, 1, 2)`), as a MatMul
on the [N, C, H*W] view, and as a 1x1 convolution; checked against numpy and timed side by side.

x [N, C, H, W] = [8, 256, 64, 64], W [K, C] = [256, 256], y[n, k, h, w] = sum_c W[k, c] x[n, c, h, w], FP32 (TF32
cleared). Each engine: built, run once, a sample of y checked against float64 numpy, then timed (median and p90 of
RUNS executions after WARMUP, CUDA events, one process); the inspector lists the layers TensorRT kept.
"""
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-4}  # FP32 (TF32 cleared): sums of 256 products, against float64 numpy
FP16 = False
N, C, H, W, K = 8, 256, 64, 64, 256
SETTING = f"x [{N}, {C}, {H}, {W}] float32, W [{K}, {C}], FP32 without TF32"
SAMPLE = (slice(None, None, 4), slice(None, None, 16), slice(None, None, 8), slice(None, None, 8))  # y[2, 16, 8, 8]
RUNS, WARMUP = 200, 20
VARIANTS = ("transpose_matmul_transpose", "reshape_matmul", "conv1x1")


def add_layers(network, variant, inputs):
    """Input "x" [N, C, H, W], output "y" [N, K, H, W]; returns (the feed, the numpy weights to keep alive)."""
    x = network.add_input("x", trt.float32, (N, C, H, W))
    w = inputs["W"]  # [K, C]
    if variant == "transpose_matmul_transpose":
        to_nhwc = network.add_shuffle(x)
        to_nhwc.first_transpose = (0, 2, 3, 1)  # [N, H, W, C]
        weights = np.ascontiguousarray(w.T).reshape(1, 1, C, K)  # same rank as the other operand
        constant = network.add_constant(weights.shape, trt.Weights(weights))
        product = network.add_matrix_multiply(to_nhwc.get_output(0), trt.MatrixOperation.NONE,
                                              constant.get_output(0), trt.MatrixOperation.NONE)  # [N, H, W, K]
        to_nchw = network.add_shuffle(product.get_output(0))
        to_nchw.first_transpose = (0, 3, 1, 2)
        y = to_nchw.get_output(0)
    elif variant == "reshape_matmul":
        flat = network.add_shuffle(x)
        flat.reshape_dims = (N, C, H * W)  # a view: no data moves
        weights = np.ascontiguousarray(w).reshape(1, K, C)
        constant = network.add_constant(weights.shape, trt.Weights(weights))
        product = network.add_matrix_multiply(constant.get_output(0), trt.MatrixOperation.NONE,
                                              flat.get_output(0), trt.MatrixOperation.NONE)  # [N, K, H*W]
        back = network.add_shuffle(product.get_output(0))
        back.reshape_dims = (N, K, H, W)
        y = back.get_output(0)
    else:  # conv1x1
        weights = np.ascontiguousarray(w).reshape(K, C, 1, 1)
        y = network.add_convolution_nd(x, K, (1, 1), trt.Weights(weights)).get_output(0)
    y.name = "y"
    network.mark_output(y)
    return {"x": inputs["x"]}, weights


def sample(y, variant):
    return y[SAMPLE]


def make_inputs():
    rng = np.random.default_rng(1)
    return {"x": rng.standard_normal((N, C, H, W)).astype(np.float32),
            "W": (rng.standard_normal((K, C)) / np.sqrt(C)).astype(np.float32)}


def reference(inputs):
    x = inputs["x"][SAMPLE[:1] + (slice(None),) + SAMPLE[2:]].astype(np.float64)  # only the sampled pixels
    y = np.einsum("kc,nchw->nkhw", inputs["W"].astype(np.float64), x)[:, SAMPLE[1]].astype(np.float32)
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
