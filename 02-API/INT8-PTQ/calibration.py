"""02-API/INT8-PTQ/calibration.py: what main.py and Calibrators.py share (main.cpp computes the same in C++).

- The data: images and weights from formulas (computed in double, rounded to float32), so that main.cpp builds the
  same network on the same data without sharing files.
- The network: x [2,64,56,56] -> 3 x (Conv 3x3, 64 maps, padding 1 -> ReLU) -> global average pooling -> [2,64,1,1],
  large enough that the builder picks INT8 kernels for the convolutions, and its FP32 numpy version.
- The calibrators: every one implements get_batch_size(), get_batch(names) -> [device pointer per input] or None
  when the data is exhausted, read_calibration_cache() -> bytes or None, write_calibration_cache(cache).
- convolutions_in_int8(engine): reads the engine inspector and tells, for each convolution, whether it ran in INT8.
"""
import json
import os

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

BATCH, C, H, W = 2, 64, 56, 56  # the input shape, static: calibration batches have it too
N_CALIBRATION = 8  # calibration images 0..7, in batches of BATCH
TEST_START = 1000  # the images we run: 1000, 1001
CONV_NAMES = ("Conv1", "Conv2", "Conv3")
# chirp() parameters (scale, a, b, c) of each convolution's kernel [64,64,3,3] and bias [64]
KERNELS = ((0.0833, 0.37, 0.9, 0.2), (0.0833, 0.37, 1.0, 0.4), (0.0833, 0.37, 1.1, 0.6))
BIASES = ((0.05, 0.37, 1.1, 2.0), (0.05, 0.37, 1.1, 3.0), (0.05, 0.37, 1.1, 4.0))


def make_images(start, count):
    """Image n, pixel (c, h, w) = sin(0.37n + 0.71h + 0.23c) cos(0.29n + 0.53w + 0.17c) + 0.25 sin(0.11n + 0.013hw +
    0.31c), as float32 [count, C, H, W]."""
    n = np.arange(start, start + count, dtype=np.float64)[:, None, None, None]
    c = np.arange(C, dtype=np.float64)[None, :, None, None]
    h = np.arange(H, dtype=np.float64)[None, None, :, None]
    w = np.arange(W, dtype=np.float64)[None, None, None, :]
    v = (np.sin(0.37 * n + 0.71 * h + 0.23 * c) * np.cos(0.29 * n + 0.53 * w + 0.17 * c)
         + 0.25 * np.sin(0.11 * n + 0.013 * h * w + 0.31 * c))
    return v.astype(np.float32)


def chirp(shape, scale, a, b, c):
    """Element k (row-major) = scale * sin(a k^2 + b k + c), as float32: easy to compute the same way in C++."""
    k = np.arange(int(np.prod(shape)), dtype=np.float64)
    return (scale * np.sin(a * k * k + b * k + c)).astype(np.float32).reshape(shape)


def make_weights():
    """[(kernel [C,C,3,3], bias [C])] of the three convolutions (kernel scale ~ sqrt(2 / fan-in): values stay O(1))."""
    return [(chirp((C, C, 3, 3), *kernel), chirp((C,), *bias)) for kernel, bias in zip(KERNELS, BIASES)]


def add_network(network, weights):
    """The layers, from the input to the marked output "outputT0"."""
    tensor = network.add_input("inputT0", trt.float32, (BATCH, C, H, W))
    for name, (kernel, bias) in zip(CONV_NAMES, weights):
        conv = network.add_convolution_nd(tensor, C, (3, 3), kernel, bias)
        conv.padding_nd = (1, 1)
        conv.name = name
        relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
        relu.name = name.replace("Conv", "ReLU")
        tensor = relu.get_output(0)
    pool = network.add_pooling_nd(tensor, trt.PoolingType.AVERAGE, (H, W))  # global average pooling
    pool.name = "GlobalAvgPool"
    pool.get_output(0).name = "outputT0"
    network.mark_output(pool.get_output(0))


def network_with(calibrator=None):
    """A build_network() for the run block: FP32 without a calibrator, INT8 post-training quantization with one."""
    def build_network(builder, network, config, inputs):
        config.clear_flag(trt.BuilderFlag.TF32)  # FP32 layers (the FP32 engine, or where INT8 is not chosen)
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector then shows each layer's formats
        if calibrator is not None:
            config.set_flag(trt.BuilderFlag.INT8)  # allows INT8 kernels: the builder picks them where they are faster
            config.int8_calibrator = calibrator  # the builder runs the FP32 network on its batches to get the scales
        weights = make_weights()
        add_network(network, weights)
        return weights, calibrator  # both must stay alive until the build ends
    return build_network


def fp32_forward(x):
    """The FP32 network in float64: 3 x (3x3 convolution with padding 1 + bias, ReLU), mean over H and W."""
    y = x.astype(np.float64)
    for kernel, bias in make_weights():
        n, c, h, w = y.shape
        padded = np.pad(y, ((0, 0), (0, 0), (1, 1), (1, 1)))
        conv = sum(np.tensordot(padded[:, :, i:i + h, j:j + w], kernel[:, :, i, j].astype(np.float64), axes=([1], [1]))
                   for i in range(3) for j in range(3)).transpose(0, 3, 1, 2)
        y = np.maximum(conv + bias.astype(np.float64)[None, :, None, None], 0)
    return y.mean(axis=(2, 3), keepdims=True).astype(np.float32)


def convolutions_in_int8(engine):
    """For each network convolution: True when its engine layer reads INT8, False when it reads another type, None
    when the engine has no convolution layer of that name (fused layers carry joined names: "Conv1 + ReLU1").

    The inspector is given an execution context, so that it reports formats and shapes (DETAILED verbosity)."""
    context = engine.create_execution_context()
    inspector = engine.create_engine_inspector()
    inspector.execution_context = context
    layers = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))["Layers"]
    convolutions = []
    for layer in layers:
        inputs = [tensor.get("Format/Datatype", "?") for tensor in layer.get("Inputs", [])]
        outputs = [tensor.get("Format/Datatype", "?") for tensor in layer.get("Outputs", [])]
        print(f"  layer {layer.get('Name', '?')[:44]:44s} {layer.get('LayerType', '?'):16s} in {inputs} out {outputs}")
        if layer.get("ParameterType") == "Convolution" or "Convolution" in layer.get("LayerType", ""):
            convolutions.append((layer.get("Name", ""), inputs[0] if inputs else "?"))
    result = []
    for name in CONV_NAMES:  # e.g. "Thirty-two wide channel vectorized row major Int8 format" for INT8
        formats = [fmt for engine_name, fmt in convolutions if name in engine_name]
        result.append(("int8" in formats[0].lower()) if formats else None)
    print(f"  {', '.join(CONV_NAMES)} read INT8: {result}")
    return result


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
        self.batch_bytes = BATCH * self.images[0].nbytes
        self.device_input = check_cuda(cudart.cudaMalloc(self.batch_bytes))
        self.get_batch_calls = 0
        self.cache_bytes_read = None  # None: read_calibration_cache found no cache

    def get_batch_size(self):  # the number of images in each batch
        return BATCH

    def get_batch(self, names):  # names: the network input names, here ["inputT0"]
        self.get_batch_calls += 1
        start = self.next_batch * BATCH
        if start + BATCH > N_CALIBRATION:
            return None  # no more data: calibration ends
        batch = np.ascontiguousarray(self.images[start:start + BATCH])
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

    def print_cache(self, lines=4):
        with open(self.cache_file, "rb") as f:
            text = f.read().decode(errors="replace").splitlines()
        print(f"  {self.cache_file} ({len(text)} lines: a header, then 'tensor: scale as hex float32'):")
        for line in text[:lines]:
            print(f"    {line}")


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
