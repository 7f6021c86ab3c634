#!/usr/bin/env python3
"""02-API/INT8-PTQ: post-training quantization (PTQ) with the INT8 calibrators, and the calibration cache.

INT8 needs a scale for every tensor. With config.set_flag(trt.BuilderFlag.INT8) and
config.int8_calibrator = ..., the builder runs the FP32 network on calibration batches that the calibrator
hands over, and derives the scales from the activations it sees. The calibrator classes differ in how:
    trt.IInt8EntropyCalibrator2   minimises the information lost by clipping (the usual choice, needed for DLA)
    trt.IInt8MinMaxCalibrator     uses the largest absolute value seen (no clipping)
    trt.IInt8LegacyCalibrator     percentile / regression of histograms, tuned by get_quantile() and
                                  get_regression_cutoff()
    (trt.IInt8Calibrator is the common base; trt.IInt8EntropyCalibrator is the older entropy version)
Every calibrator implements get_batch_size(), get_batch(names) -> [device pointer per input] or None when the
data is exhausted, read_calibration_cache() -> bytes or None, write_calibration_cache(cache).
The first build of each calibrator calibrates and writes its cache; a second build with a fresh calibrator reads
the cache back and skips calibration (get_batch is never called).

The network: conv 3x3 (8) -> ReLU -> conv 3x3 (16) -> ReLU -> max pool 2x2 -> flatten -> matmul (10), on 8x8
single-channel images. Weights and images come from formulas that main.cpp computes identically, so that the C++
version (main.cpp) builds the same network on the same data. The INT8 outputs are compared with the FP32 numpy
reference with a wide tolerance (see TOLERANCE).
"""
import json
import os
import sys
import time

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

INPUT_NAME = "inputT0"
OUTPUT_NAME = "outputT0"
H = W = 8
C1, C2, N_CLASSES = 8, 16, 10
N_CALIBRATION = 200  # calibration images 0..199, in batches of CALIBRATION_BATCH
CALIBRATION_BATCH = 50
TEST_START, N_TEST = 1000, 8  # the images we run: 1000..1007
# INT8 against the FP32 reference: the outputs lie within about +-2; INT8 rounds every activation to 1/127 of
# its calibrated range, and the entropy / legacy calibrators may also clip the largest activations. A numpy
# simulation of per-tensor INT8 activations and per-channel INT8 weights gives errors of 0.03 (no clipping) to
# 0.2 (clipping at 60 % of the range), hence about 10 % of the output range.
TOLERANCE = {"rtol": 0.1, "atol": 0.15}


def make_images(start, count):
    """Image n, pixel (h, w) = sin(0.37n + 0.71h) cos(0.29n + 0.53w) + 0.25 sin(0.11n + 0.13hw), as float32."""
    n = np.arange(start, start + count, dtype=np.float64)[:, None, None]
    h = np.arange(H, dtype=np.float64)[None, :, None]
    w = np.arange(W, dtype=np.float64)[None, None, :]
    v = np.sin(0.37 * n + 0.71 * h) * np.cos(0.29 * n + 0.53 * w) + 0.25 * np.sin(0.11 * n + 0.13 * h * w)
    return v.astype(np.float32)[:, None, :, :]  # [count, 1, H, W]


def chirp(shape, scale, a, b, c):
    """Element k (row-major) = scale * sin(a k^2 + b k + c), as float32: easy to compute the same way in C++."""
    k = np.arange(int(np.prod(shape)), dtype=np.float64)
    return (scale * np.sin(a * k * k + b * k + c)).astype(np.float32).reshape(shape)


def make_weights():
    return {"conv1_w": chirp((C1, 1, 3, 3), 0.6, 0.37, 1.1, 0.5), "conv1_b": chirp((C1,), 0.05, 0.37, 0.7, 1.0),
            "conv2_w": chirp((C2, C1, 3, 3), 0.2, 0.37, 0.9, 0.2), "conv2_b": chirp((C2,), 0.05, 0.37, 1.1, 2.0),
            "fc_w": chirp((C2 * (H // 2) * (W // 2), N_CLASSES), 0.15, 0.37, 0.61, 1.0)}


def make_inputs():
    return {INPUT_NAME: make_images(TEST_START, N_TEST)}


def conv3x3(x, w, b):
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((n, w.shape[0], h, wd))
    for i in range(3):
        for j in range(3):
            y += np.einsum("nchw,kc->nkhw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return y + b[None, :, None, None]


def reference(inputs):
    """The FP32 network in float64."""
    w = {k: v.astype(np.float64) for k, v in make_weights().items()}
    x = inputs[INPUT_NAME].astype(np.float64)
    y = np.maximum(conv3x3(x, w["conv1_w"], w["conv1_b"]), 0)
    y = np.maximum(conv3x3(y, w["conv2_w"], w["conv2_b"]), 0)
    n = y.shape[0]
    y = y.reshape(n, C2, H // 2, 2, W // 2, 2).max(axis=(3, 5)).reshape(n, -1)
    return {OUTPUT_NAME: (y @ w["fc_w"]).astype(np.float32)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class CalibrationData:
    """What every calibrator below shares: the batches, one device buffer, the cache file, and counters.

    It is a plain Python class mixed into each calibrator; TensorRT calls these methods by name."""

    def __init__(self, cache_file):
        self.cache_file = cache_file
        self.images = make_images(0, N_CALIBRATION)
        self.next_batch = 0
        self.batch_bytes = CALIBRATION_BATCH * self.images[0].nbytes
        self.device_input = check_cuda(cudart.cudaMalloc(self.batch_bytes))
        self.get_batch_calls = 0
        self.cache_bytes_read = None  # None: read_calibration_cache found no cache

    def get_batch_size(self):  # the number of images in each batch
        return CALIBRATION_BATCH

    def get_batch(self, names):  # names: the network input names, here [INPUT_NAME]
        self.get_batch_calls += 1
        start = self.next_batch * CALIBRATION_BATCH
        if start + CALIBRATION_BATCH > N_CALIBRATION:
            return None  # no more data: calibration ends
        batch = np.ascontiguousarray(self.images[start:start + CALIBRATION_BATCH])
        check_cuda(cudart.cudaMemcpy(self.device_input, batch.ctypes.data, self.batch_bytes,
                                     cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
        self.next_batch += 1
        return [int(self.device_input)]  # one device pointer per name

    def read_calibration_cache(self):
        if os.path.isfile(self.cache_file):
            with open(self.cache_file, "rb") as f:
                cache = f.read()
            self.cache_bytes_read = len(cache)
            print(f"  read_calibration_cache: {len(cache)} bytes from {self.cache_file}: calibration is skipped")
            return cache
        print(f"  read_calibration_cache: no {self.cache_file}, returning None: TensorRT calibrates")
        return None

    def write_calibration_cache(self, cache):
        with open(self.cache_file, "wb") as f:
            f.write(cache)
        print(f"  write_calibration_cache: {len(cache)} bytes to {self.cache_file}")

    def release(self):
        check_cuda(cudart.cudaFree(self.device_input))


class EntropyCalibrator2(CalibrationData, trt.IInt8EntropyCalibrator2):
    def __init__(self, cache_file):
        trt.IInt8EntropyCalibrator2.__init__(self)  # the TensorRT base class must be initialised explicitly
        CalibrationData.__init__(self, cache_file)


class MinMaxCalibrator(CalibrationData, trt.IInt8MinMaxCalibrator):
    def __init__(self, cache_file):
        trt.IInt8MinMaxCalibrator.__init__(self)
        CalibrationData.__init__(self, cache_file)


class LegacyCalibrator(CalibrationData, trt.IInt8LegacyCalibrator):
    """The legacy calibrator also needs its two parameters and a (here unused) histogram cache."""

    def __init__(self, cache_file):
        trt.IInt8LegacyCalibrator.__init__(self)
        CalibrationData.__init__(self, cache_file)

    def get_quantile(self):  # quantile of the histogram used as the range when the quantile method is used
        return 0.9999

    def get_regression_cutoff(self):  # fraction of the maximum used as the cutoff of the regression
        return 1.0

    def read_histogram_cache(self, length):
        return None  # no histogram cache: TensorRT computes the histograms

    def write_histogram_cache(self, ptr, length):
        print(f"  write_histogram_cache: {length} bytes offered (not kept)")


def build(logger, calibrator=None):
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    profile = builder.create_optimization_profile()
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector then shows each layer's types
    w = make_weights()

    x = network.add_input(INPUT_NAME, trt.float32, (-1, 1, H, W))
    profile.set_shape(INPUT_NAME, (1, 1, H, W), (CALIBRATION_BATCH, 1, H, W), (CALIBRATION_BATCH, 1, H, W))
    config.add_optimization_profile(profile)
    if calibrator is not None:
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
        config.set_calibration_profile(profile)  # calibration batches have the profile's opt shape
        # ask for INT8 in the layers that have weights, but let TensorRT fall back where it has no INT8 kernel
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)

    conv1 = network.add_convolution_nd(x, C1, (3, 3), w["conv1_w"], w["conv1_b"])
    conv1.padding_nd = (1, 1)
    conv1.name = "Conv1"
    relu1 = network.add_activation(conv1.get_output(0), trt.ActivationType.RELU)
    relu1.name = "ReLU1"
    conv2 = network.add_convolution_nd(relu1.get_output(0), C2, (3, 3), w["conv2_w"], w["conv2_b"])
    conv2.padding_nd = (1, 1)
    conv2.name = "Conv2"
    relu2 = network.add_activation(conv2.get_output(0), trt.ActivationType.RELU)
    relu2.name = "ReLU2"
    pool = network.add_pooling_nd(relu2.get_output(0), trt.PoolingType.MAX, (2, 2))
    pool.stride_nd = (2, 2)
    pool.name = "MaxPool"
    flatten = network.add_shuffle(pool.get_output(0))
    flatten.reshape_dims = (-1, C2 * (H // 2) * (W // 2))
    flatten.name = "Flatten"
    fc_w = network.add_constant(w["fc_w"].shape, w["fc_w"])
    fc_w.name = "FCWeight"
    fc = network.add_matrix_multiply(flatten.get_output(0), trt.MatrixOperation.NONE, fc_w.get_output(0),
                                     trt.MatrixOperation.NONE)
    fc.name = "FC"
    if calibrator is not None:
        for layer in (conv1, conv2, fc):
            layer.precision = trt.int8
    fc.get_output(0).name = OUTPUT_NAME
    network.mark_output(fc.get_output(0))

    start = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if plan is None:
        raise RuntimeError("building the engine failed")
    return plan, seconds


def layer_types(engine):
    """'layer: output type' for every engine layer, from the DETAILED inspector information."""
    info = json.loads(engine.create_engine_inspector().get_engine_information(trt.LayerInformationFormat.JSON))
    lines = []
    for layer in info.get("Layers", []):
        if isinstance(layer, dict):
            outputs = layer.get("Outputs") or [{}]
            lines.append(f"{layer.get('Name', '?')[:50]}: {outputs[0].get('Format/Datatype', '?')}")
    return lines


def infer(engine, x):
    context = engine.create_execution_context()
    context.set_input_shape(INPUT_NAME, x.shape)
    out = np.empty(tuple(context.get_tensor_shape(OUTPUT_NAME)), dtype=np.float32)
    d_in = check_cuda(cudart.cudaMalloc(x.nbytes))
    d_out = check_cuda(cudart.cudaMalloc(out.nbytes))
    context.set_tensor_address(INPUT_NAME, d_in)
    context.set_tensor_address(OUTPUT_NAME, d_out)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(d_in, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                      stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(out.ctypes.data, d_out, out.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    check_cuda(cudart.cudaStreamDestroy(stream))
    check_cuda(cudart.cudaFree(d_in))
    check_cuda(cudart.cudaFree(d_out))
    return out


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    runtime = trt.Runtime(logger)
    inputs = make_inputs()
    expected = reference(inputs)[OUTPUT_NAME]
    stem = os.path.splitext(os.path.basename(__file__))[0]
    passed = True

    def evaluate(tag, plan):
        nonlocal passed
        engine = runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise RuntimeError("deserializing the engine failed")
        for line in layer_types(engine):
            print(f"  layer {line}")
        out = infer(engine, inputs[INPUT_NAME])
        max_error = float(np.max(np.abs(out - expected)))
        ok = bool(np.allclose(out, expected, **TOLERANCE))
        agree = int(np.sum(out.argmax(axis=1) == expected.argmax(axis=1)))
        print(f"check result: {ok}, max abs error = {max_error:.3e} against FP32 numpy "
              f"(largest output {np.abs(expected).max():.3f}; same argmax in {agree} of {N_TEST} images)")
        passed = passed and ok
        np.savez(f"{stem}.{tag}.output.npz", **{OUTPUT_NAME: out})
        return out

    print("=== FP32 engine, for comparison")
    plan, seconds = build(logger)
    print(f"build {seconds:.2f} s, engine {plan.nbytes} bytes")
    evaluate("fp32", plan)

    for tag, calibrator_class in (("entropy2", EntropyCalibrator2), ("minmax", MinMaxCalibrator),
                                  ("legacy", LegacyCalibrator)):
        cache_file = f"{stem}-{tag}.cache"
        for attempt in ("calibrate", "from cache"):
            print(f"\n=== INT8, {calibrator_class.__name__} (base {calibrator_class.__mro__[2].__name__}), {attempt}")
            calibrator = calibrator_class(cache_file)
            print(f"  calibrator.get_algorithm() = {calibrator.get_algorithm()}, "
                  f"get_batch_size() = {calibrator.get_batch_size()}")
            plan, seconds = build(logger, calibrator)
            print(f"build {seconds:.2f} s, engine {plan.nbytes} bytes; get_batch was called "
                  f"{calibrator.get_batch_calls} times; read_calibration_cache returned "
                  f"{'None' if calibrator.cache_bytes_read is None else f'{calibrator.cache_bytes_read} bytes'}")
            if attempt == "calibrate":
                with open(cache_file, "rb") as f:
                    lines = f.read().decode(errors="replace").splitlines()
                print(f"  {cache_file} ({len(lines)} lines: a header, then 'tensor: scale as hex float32'):")
                for line in lines[:4]:
                    print(f"    {line}")
            else:
                ok = calibrator.cache_bytes_read is not None and calibrator.get_batch_calls == 0
                print(f"check result: {ok}, the second build read the cache and did not calibrate")
                passed = passed and ok
            calibrator.release()
            evaluate(f"{tag}_{'calibrated' if attempt == 'calibrate' else 'cached'}", plan)
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
