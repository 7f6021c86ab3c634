"""03-BuildEngineByTensorRTAPI/DigitsCNN/calibrator.py: the helpers of main.py (main.cpp has its own C++ versions).

- EntropyCalibrator2: hands the training images to the builder in batches for INT8 calibration, and reads / writes
  the calibration cache. TensorRT calls its methods by name: get_batch_size(), get_batch(names) -> [device pointer
  per input] or None when the data is exhausted, read_calibration_cache() -> bytes or None,
  write_calibration_cache(cache).
- convolution_formats(engine, names): which data format (and so which precision) each convolution of a built
  engine reads, from the engine inspector.
"""
import json
import os
import re

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class EntropyCalibrator2(trt.IInt8EntropyCalibrator2):
    """Calibration data: `images` [N, 1, 28, 28] float32, in batches of `batch` (the calibration profile's shape);
    the last incomplete batch is left out. Counts its calls, so that the script can tell whether it calibrated."""

    def __init__(self, images, batch, cache_file):
        trt.IInt8EntropyCalibrator2.__init__(self)  # the TensorRT base class must be initialised explicitly
        self.images, self.batch, self.cache_file = images, batch, cache_file
        self.next_batch = 0
        self.batch_bytes = batch * images[0].nbytes
        self.device_input = check_cuda(cudart.cudaMalloc(self.batch_bytes))
        self.get_batch_calls = 0
        self.cache_bytes_read = None  # None: read_calibration_cache found no cache

    def get_batch_size(self):  # the number of images in each batch: the first dimension of the calibration shape
        return self.batch

    def get_batch(self, names):  # names: the network input names, here ["inputT0"]
        self.get_batch_calls += 1
        start = self.next_batch * self.batch
        if start + self.batch > len(self.images):
            return None  # no more data: calibration ends
        batch = np.ascontiguousarray(self.images[start:start + self.batch], dtype=np.float32)
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
        print(f"  {self.cache_file} ({len(text)} lines: a header, then 'tensor: scale as hex float32'), first lines:")
        for line in text[:lines]:
            print(f"    {line}")


def convolution_formats(engine, names):
    """{network convolution name: the Format/Datatype its engine layer reads} ("?" when the engine has none).

    The engine must be built with ProfilingVerbosity.DETAILED and static shapes: with a dynamic batch, TensorRT
    8.6.0 reports every format as "N/A due to dynamic shapes" (seen on an H200). Engine layers carry the names of
    the network layers they fuse ("Conv1 + ReLU1"); reformatting layers named after them are not convolutions and
    are skipped. Formats look like "Row major linear FP32", "Channel major FP16 format where channel % 8 == 0" or
    "Thirty-two wide channel vectorized row major Int8 format" (seen with TensorRT 8.6.0). Prints every layer."""
    inspector = engine.create_engine_inspector()
    text = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    layers = json.loads(text, strict=False)["Layers"]  # strict=False: 8.6.0 leaves control characters in strings
    formats = dict.fromkeys(names, "?")
    for layer in layers:  # dicts with DETAILED verbosity
        name, kind = layer.get("Name", "?"), layer.get("LayerType", "?")
        inputs = [tensor.get("Format/Datatype", "?") for tensor in layer.get("Inputs", [])]
        outputs = [tensor.get("Format/Datatype", "?") for tensor in layer.get("Outputs", [])]
        print(f"    {name[:40]:40s} {kind:20s} in {inputs} out {outputs}")
        if layer.get("ParameterType") == "Convolution" or "Convolution" in kind:
            for conv in names:
                if re.search(rf"\b{re.escape(conv)}\b", name) and formats[conv] == "?" and inputs:
                    formats[conv] = inputs[0]
    return formats
