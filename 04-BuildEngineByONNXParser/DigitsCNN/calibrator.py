"""04-BuildEngineByONNXParser/DigitsCNN/calibrator.py and QAT/calibrator.py (the same file): the helpers main.py
imports (DigitsCNN/main.cpp has C++ versions of them).

- EntropyCalibrator2: the INT8 calibration data and cache. During an INT8 build without a usable cache, TensorRT
  runs the FP32 network on the batches get_batch() hands over and derives one scale per tensor from the histograms
  of its values (entropy calibration, version 2). TensorRT calls the methods by name:
      get_batch_size()               -> images per batch (the first dimension of the calibration profile)
      get_batch(names)               -> [one device pointer per input name], or None: no more data
      read_calibration_cache()       -> the bytes of an earlier calibration, or None: calibrate
      write_calibration_cache(cache) <- the scales TensorRT found, to keep for the next build
- inspect_convolutions(engine, conv_names, input_shape): the data format each convolution of a built engine reads
  (and so the precision it runs in), from the engine inspector.
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
    """Hands `images` (float32 [N, ...]) to TensorRT in batches of `batch` images; the last incomplete batch is
    left out. `cache_file` None: no cache is read or written. Counts the calls to get_batch, so that a script can
    tell whether TensorRT calibrated or took the cache."""

    def __init__(self, images, batch, cache_file=None):
        trt.IInt8EntropyCalibrator2.__init__(self)  # pybind11: the base class must be initialised explicitly
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self.batch, self.cache_file = batch, cache_file
        self.batches_given = 0
        self.get_batch_calls = 0
        self.cache_read = False
        self.device_batch = check_cuda(cudart.cudaMalloc(self.images[:batch].nbytes))

    def get_batch_size(self):
        return self.batch

    def get_batch(self, names):
        self.get_batch_calls += 1
        start = self.batches_given * self.batch
        if start + self.batch > len(self.images):
            return None  # the data is exhausted: calibration ends
        host = self.images[start:start + self.batch]
        check_cuda(cudart.cudaMemcpy(self.device_batch, host.ctypes.data, host.nbytes,
                                     cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
        self.batches_given += 1
        return [int(self.device_batch)]  # one pointer per name in `names`: here the one input, inputT0

    def read_calibration_cache(self):
        if self.cache_file is None or not os.path.isfile(self.cache_file):
            print(f"  read_calibration_cache: no cache ({self.cache_file}), TensorRT calibrates")
            return None
        with open(self.cache_file, "rb") as f:
            cache = f.read()
        self.cache_read = True
        print(f"  read_calibration_cache: {len(cache)} bytes from {self.cache_file}, no calibration")
        return cache

    def write_calibration_cache(self, cache):
        if self.cache_file is None:
            return
        with open(self.cache_file, "wb") as f:
            f.write(cache)
        print(f"  write_calibration_cache: {len(cache)} bytes to {self.cache_file}")

    def release(self):
        check_cuda(cudart.cudaFree(self.device_batch))


def print_cache(cache_file, lines=5):
    """The cache is text: a header line, then 'tensor name: scale' with the scale as the hex of a float32."""
    with open(cache_file, "rb") as f:
        text = f.read().decode(errors="replace").splitlines()
    print(f"  {cache_file}: {len(text)} lines, the first {lines}:")
    for line in text[:lines]:
        print(f"    {line}")


def inspect_convolutions(engine, conv_names):
    """{network convolution name: the Format/Datatype its engine layer reads} ("?" where none is found).

    Prints every engine layer with the formats it reads and writes. The engine must be built with
    ProfilingVerbosity.DETAILED and static shapes: with a dynamic batch, TensorRT 8.6.0 reports every format as
    "N/A due to dynamic shapes", even given an execution context whose input shape is set (seen on an H200). An engine layer carries the names of the network layers fused into it
    ("/conv1/Conv + /Relu"), so a name counts where it stands whole (not preceded by a letter, digit, _ or /, not
    followed by a letter, digit or _); a reformatting layer named after a convolution is not one (LayerType Reformat).
    Formats look like "Row major linear FP32", "Channel major FP16 format where channel % 8 == 0" or "Thirty-two
    wide channel vectorized row major Int8 format" (seen with TensorRT 8.6.0)."""
    inspector = engine.create_engine_inspector()
    text = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
    layers = json.loads(text, strict=False)["Layers"]  # strict=False: 8.6.0 leaves control characters in strings
    found = dict.fromkeys(conv_names, "?")
    for layer in layers:
        name, kind = layer.get("Name", "?"), layer.get("LayerType", "?")
        reads = [t.get("Format/Datatype", "?") for t in layer.get("Inputs", [])]
        writes = [t.get("Format/Datatype", "?") for t in layer.get("Outputs", [])]
        print(f"    {kind:18s} reads {reads[:1]} writes {writes[:1]}  {name}")
        is_convolution = layer.get("ParameterType") == "Convolution" or "Convolution" in kind
        for conv in conv_names:  # a whole name: "/Conv" is not in "/conv1/Conv" nor in "/Conv_1"
            whole_name = re.search(rf"(?<![\w/]){re.escape(conv)}(?!\w)", name)
            if is_convolution and reads and found[conv] == "?" and whole_name:
                found[conv] = reads[0]
    return found
