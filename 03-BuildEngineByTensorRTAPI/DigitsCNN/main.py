#!/usr/bin/env python3
"""03-BuildEngineByTensorRTAPI/DigitsCNN: a trained PyTorch CNN rebuilt layer by layer with the TensorRT API, in
FP32, FP16 and INT8 (post-training quantization: a calibrator and its cache), checked on a real test set.

train.py trained the slides' small CNN on scikit-learn's digits and saved its weights under their torch names in
digits_cnn.npz. add_network() adds the same layers to a TensorRT network with those weights: Conv2d ->
add_convolution_nd, ReLU -> add_activation, MaxPool2d -> add_pooling_nd, Flatten -> add_shuffle, Linear ->
add_constant + add_matrix_multiply + add_elementwise. The batch dimension is dynamic (-1); an optimization profile
allows 1..64 images (opt 32). run_example() builds FP32 (TF32 cleared), FP16, and INT8 twice with an
IInt8EntropyCalibrator2 over the training images: the first build calibrates and writes main.cache, the second (a
fresh calibrator) reads it back and never asks for a batch. Each engine runs the 360 test images in batches of up
to 64, and a table shows the largest |logit - torch logit| and the accuracy of each. Checked against torch's CPU
forward of the same weights: FP32 and FP16 logits, the three accuracies, the precision each engine's convolutions
read (engine inspector), and that the second INT8 build used the cache. main.cpp does the same in C++.
"""
import os
import sys

import numpy as np
import tensorrt as trt
import torch

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

from calibrator import EntropyCalibrator2, convolution_formats
from digits import load

# Logits: FP32 equals torch (1e-4); FP16 within 0.1 + 1 % of the logit: FP16 keeps 11 significant bits, so logits
# of 16..32 are rounded to steps of 1/64 (0.016) and an absolute 1e-2 is finer than FP16 can store. Accuracies (of 360 images, 1 image is
# 0.0028) against torch's: FP32 the same but for one image whose two best logits lie within 1e-4 (none here: the
# closest pair lies 0.24 apart), FP16 within 0.5 %, INT8 within 1 %.
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4, "logits_fp16": {"rtol": 1e-2, "atol": 0.1},
             "accuracy_fp32": {"rtol": 0.0, "atol": 0.003}, "accuracy_fp16": {"rtol": 0.0, "atol": 0.005},
             "accuracy_int8": {"rtol": 0.0, "atol": 0.01}}
REFERENCE_TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # torch on another CPU
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits_cnn.npz")
CACHE_FILE = "main.cache"
BATCH_MIN, BATCH_OPT, BATCH_MAX = 1, 32, 64  # the optimization profile; calibration batches have BATCH_OPT images
CONV_NAMES = ("Conv1", "Conv2")
# PRECISION_NOTE: BuilderFlag.FP16 and BuilderFlag.INT8 only allow FP16 / INT8 kernels; the builder times them and
# keeps FP32 where FP32 is faster. On a CNN this small the two are close: seen with TensorRT 8.6.0 on an H200, one
# INT8 build chose INT8 convolutions and another, of the same network and flags, kept every layer in FP32; and an
# FP16 build that ran beside 15 other examples under CUDA MPS (the test suite) kept every convolution in FP32. So
# the FP16 and INT8 builds also ask for convolutions in their precision (layer.precision +
# PREFER_PRECISION_CONSTRAINTS), and the inspector checks that they got it.


def add_network(network, w, batch=-1):
    """train.py's DigitsCNN from its state_dict arrays w: [N,1,28,28] -> logits [N,10] (N = batch, -1: dynamic)."""
    x = network.add_input("inputT0", trt.float32, (batch, 1, 28, 28))
    for i, name in enumerate(CONV_NAMES, 1):  # Conv2d(5x5, padding 2) + ReLU + MaxPool2d(2), twice
        kernel, bias = w[f"conv{i}.weight"], w[f"conv{i}.bias"]  # [out, in, 5, 5], [out]
        conv = network.add_convolution_nd(x, kernel.shape[0], (5, 5), kernel, bias)
        conv.padding_nd = (2, 2)
        conv.name = name
        relu = network.add_activation(conv.get_output(0), trt.ActivationType.RELU)
        relu.name = f"ReLU{i}"
        pool = network.add_pooling_nd(relu.get_output(0), trt.PoolingType.MAX, (2, 2))
        pool.stride_nd = (2, 2)
        pool.name = f"MaxPool{i}"
        x = pool.get_output(0)
    flatten = network.add_shuffle(x)  # torch.flatten(x, 1): [N,32,7,7] -> [N,1568]
    flatten.reshape_dims = (0, -1)  # 0: copy the (dynamic) batch dimension; -1: whatever remains
    flatten.name = "Flatten"
    x = flatten.get_output(0)
    for i in (1, 2):  # Linear: x W^T + b, with W [out, in] as torch stores it
        weight, bias = w[f"fc{i}.weight"], w[f"fc{i}.bias"]
        matrix = network.add_constant(weight.shape, weight)
        product = network.add_matrix_multiply(x, trt.MatrixOperation.NONE, matrix.get_output(0),
                                              trt.MatrixOperation.TRANSPOSE)
        product.name = f"FC{i}"
        row = network.add_constant((1, bias.shape[0]), bias)  # [1, out]: broadcast over the batch
        add = network.add_elementwise(product.get_output(0), row.get_output(0), trt.ElementWiseOperation.SUM)
        add.name = f"FC{i}.bias"
        x = add.get_output(0)
        if i == 1:
            relu = network.add_activation(x, trt.ActivationType.RELU)
            relu.name = "ReLU3"
            x = relu.get_output(0)
    x.name = "logits"
    network.mark_output(x)


def network_with(precision, calibrator=None, batch=-1):
    """A build_network() for the run block's build_engine(): the CNN, the batch profile, the precision flag.
    batch=-1: a dynamic batch of 1..64 images; a number: that fixed batch, without a profile."""
    def build_network(builder, network, config, inputs):
        config.clear_flag(trt.BuilderFlag.TF32)  # FP32 layers compute in FP32 (TF32 is on by default on Ampere+)
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector then shows each layer's formats
        if batch == -1:
            profile = builder.create_optimization_profile()
            profile.set_shape("inputT0", (BATCH_MIN, 1, 28, 28), (BATCH_OPT, 1, 28, 28), (BATCH_MAX, 1, 28, 28))
            config.add_optimization_profile(profile)
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)  # allows FP16 kernels: the builder picks them where they are faster
        if precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)  # allows INT8 kernels, with scales from the calibrator
            config.int8_calibrator = calibrator  # the builder runs the FP32 network on its batches
            if batch == -1:
                calibration = builder.create_optimization_profile()  # dynamic shapes: the calibration batches' shape
                calibration.set_shape("inputT0", *[(BATCH_OPT, 1, 28, 28)] * 3)
                config.set_calibration_profile(calibration)
        with np.load(WEIGHTS) as data:
            weights = {name: data[name] for name in data.files}
        add_network(network, weights, batch)
        if precision in ("fp16", "int8"):  # see PRECISION_NOTE: or the builder may time FP32 faster
            config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
            for layer in (network.get_layer(i) for i in range(network.num_layers)):
                if layer.type == trt.LayerType.CONVOLUTION:
                    layer.precision = trt.float16 if precision == "fp16" else trt.int8  # where such a kernel exists
        return weights, calibrator  # both must stay alive until the build ends
    return build_network


def run_example(inputs):
    images, labels = inputs["inputT0"], load("test")[1]
    expected = torch_forward(images)
    if os.path.exists(CACHE_FILE):
        os.remove(CACHE_FILE)  # start without a cache: the first INT8 build must calibrate
    engines = {"FP32": build_engine(network_with("fp32"), inputs), "FP16": build_engine(network_with("fp16"), inputs)}
    calibrators = []
    for attempt in ("calibrate, write the cache", "read the cache"):
        print(f"=== INT8 build, IInt8EntropyCalibrator2: {attempt}")
        calibrator = EntropyCalibrator2(load("train")[0], BATCH_OPT, CACHE_FILE)  # fresh: only the cache file is kept
        engines["INT8"] = build_engine(network_with("int8", calibrator), inputs)  # the second replaces the first
        calibrator.release()
        print(f"  get_batch was called {calibrator.get_batch_calls} times")
        calibrators.append(calibrator)
    calibrators[0].print_cache()
    outputs, rows = {}, [f"{'torch (CPU)':12s} {'-':>26s} {np.mean(expected.argmax(axis=1) == labels):9.4f}"]
    for precision, engine in engines.items():
        # Seen with TensorRT 8.6.0 on an H200: with a dynamic batch, the inspector reports every format as "N/A due
        # to dynamic shapes", even given a context whose input shape is set (02-API/EngineInspector). So the same
        # network and flags are built once more with the batch fixed at BATCH_OPT, the shape whose kernels the
        # dynamic engine chose, and that engine's inspector tells the precision (INT8: from the cache).
        print(f"=== {precision}: the same build with a fixed batch of {BATCH_OPT}, its layers (engine inspector)")
        calibrator = EntropyCalibrator2(load("train")[0], BATCH_OPT, CACHE_FILE) if precision == "INT8" else None
        formats = convolution_formats(build_engine(network_with(precision.lower(), calibrator, BATCH_OPT), inputs),
                                      CONV_NAMES)
        if calibrator is not None:
            calibrator.release()  # its device buffer
        logits = np.concatenate([run_engine(engine, {"inputT0": images[i:i + BATCH_MAX]})["logits"]
                                 for i in range(0, len(images), BATCH_MAX)])  # 5 batches of 64, then 40
        accuracy = np.mean(logits.argmax(axis=1) == labels)
        rows.append(f"{precision:12s} {np.max(np.abs(logits - expected)):26.3e} {accuracy:9.4f}  "
                    + ", ".join(f"{conv}: {fmt}" for conv, fmt in formats.items()))
        outputs[f"accuracy_{precision.lower()}"] = np.array(accuracy, dtype=np.float32)
        read = [fmt.lower() for fmt in formats.values()]  # the builder may keep FP32 in some layers of this small CNN
        if precision == "FP32":
            outputs["logits_fp32"], outputs["fp32_convolutions"] = logits, np.array(all("fp32" in f for f in read))
        elif precision == "FP16":
            outputs["logits_fp16"], outputs["fp16_convolution"] = logits, np.array(any("fp16" in f for f in read))
        else:
            outputs["int8_convolution"] = np.array(any("int8" in f for f in read))
    print(f"\n{'precision':12s} {'max |logit - torch logit|':>26s} {'accuracy':>9s}  convolutions read")
    print("\n".join(rows))
    first, second = calibrators
    outputs["cache_reused"] = np.array(first.get_batch_calls > 0 and second.cache_bytes_read is not None
                                       and second.get_batch_calls == 0)
    return outputs


def torch_forward(images):
    """train.py's forward, as torch functions on the CPU, in float64 from the float32 weights: logits [N,10]."""
    with np.load(WEIGHTS) as data:
        w = {name: torch.from_numpy(data[name]).double() for name in data.files}
    f, x = torch.nn.functional, torch.from_numpy(images).double()
    for i in (1, 2):
        x = f.max_pool2d(torch.relu(f.conv2d(x, w[f"conv{i}.weight"], w[f"conv{i}.bias"], padding=2)), 2)
    x = torch.relu(f.linear(torch.flatten(x, 1), w["fc1.weight"], w["fc1.bias"]))
    return f.linear(x, w["fc2.weight"], w["fc2.bias"]).numpy().astype(np.float32)


def make_inputs():
    return {"inputT0": load("test")[0]}  # the 360 test images, [360,1,28,28] in [0,1]


def reference(inputs):
    """torch's logits and accuracy (the target of every precision, within TOLERANCE), and the facts that must hold:
    the FP32 engine's convolutions read FP32, at least one convolution of the FP16 / INT8 engine reads FP16 / INT8,
    and the second INT8 build read the cache instead of calibrating."""
    logits = torch_forward(inputs["inputT0"])
    accuracy = np.array(np.mean(logits.argmax(axis=1) == load("test")[1]), dtype=np.float32)
    return {"logits_fp32": logits, "logits_fp16": logits, "accuracy_fp32": accuracy, "accuracy_fp16": accuracy,
            "accuracy_int8": accuracy, "fp32_convolutions": np.array(True), "fp16_convolution": np.array(True),
            "int8_convolution": np.array(True), "cache_reused": np.array(True)}


# ==== run block: identical in every script that has it (canonical copy: tests/run_block.py) ====
# What sits above this line is the lesson. What follows builds, runs and checks, the same way in every script:
# `python3 tests/sync_blocks.py --write` rewrites every copy from tests/run_block.py, and a CPU test fails when
# a copy drifts. A script defines make_inputs(), reference(inputs), TOLERANCE and either
# build_network(builder, network, config, inputs) or, when its topic needs several builds or an expected
# failure, run_example(inputs) -> {output name: numpy array}. KNOWN_DEVIATIONS (optional) names outputs where
# TensorRT 8.6.0 is known to differ from its documentation: their check passes while the difference persists.


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def needs_profile(network):
    """TensorRT needs an optimization profile for dynamic input shapes and shape-tensor inputs; 8.6.0 also
    refuses to create an execution context for an output whose shape depends on data without one."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    outputs = [network.get_output(i) for i in range(network.num_outputs)]
    return any(t.is_shape_tensor or -1 in tuple(t.shape) for t in inputs) or any(-1 in tuple(t.shape) for t in outputs)


def build_engine(build_network, inputs, logger=None):
    """Builder, network and config; build_network() adds the layers; build, then deserialize the plan.

    Without a profile from build_network() where one is needed, one is added that covers exactly `inputs`.
    """
    logger = logger or trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    keep_alive = build_network(builder, network, config, inputs)  # numpy weights must live until the build ends
    if config.num_optimization_profiles == 0 and needs_profile(network):
        profile = builder.create_optimization_profile()
        for tensor in (network.get_input(i) for i in range(network.num_inputs)):
            value = np.asarray(inputs[tensor.name])
            if tensor.is_shape_tensor:  # the range of its values, not of its shape
                profile.set_shape_input(tensor.name, *[tuple(int(v) for v in value.ravel())] * 3)
            if -1 in tuple(tensor.shape) or not tensor.is_shape_tensor:  # static shapes too: a profile names all
                profile.set_shape(tensor.name, *[value.shape] * 3)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    del keep_alive
    if serialized is None:
        raise RuntimeError("build_serialized_network failed (see the TensorRT log above)")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserialize_cuda_engine failed (see the TensorRT log above)")
    return engine


class OutputAllocator(trt.IOutputAllocator):
    """Device memory for an output whose shape is known only during enqueue (NonZero, NMS, ...)."""

    def __init__(self):
        trt.IOutputAllocator.__init__(self)
        self.address, self.size, self.shape = 0, 0, None

    def reallocate_output(self, tensor_name, memory, size, alignment):
        if size > self.size:
            if self.address:
                check_cuda(cudart.cudaFree(self.address))
            self.address, self.size = check_cuda(cudart.cudaMalloc(size)), size
        return self.address

    def notify_shape(self, tensor_name, shape):
        self.shape = tuple(shape)


def run_engine(engine, inputs, profile_index=0):
    """Bind every I/O tensor by name, run once with execute_async_v3, return {output name: numpy array}."""
    context = engine.create_execution_context()
    if context is None:
        raise RuntimeError("create_execution_context failed (see the TensorRT log above)")
    stream = check_cuda(cudart.cudaStreamCreate())
    if profile_index:
        context.set_optimization_profile_async(profile_index, int(stream))
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device, allocators = {}, {}, {}

    def bind(name, shape):  # host array + its address for TensorRT: on the GPU, or in host memory (shape tensors)
        if name not in host:
            host[name] = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        if engine.get_tensor_location(name) == trt.TensorLocation.HOST:
            context.set_tensor_address(name, host[name].ctypes.data)
        else:
            device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
            context.set_tensor_address(name, device[name])

    for name in input_names:
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        if -1 in tuple(engine.get_tensor_shape(name)):  # only dynamic dimensions need a run-time shape
            context.set_input_shape(name, host[name].shape)
        bind(name, host[name].shape)
    for name in output_names:  # shapes are known once every input shape and shape-tensor value is set
        shape = tuple(context.get_tensor_shape(name))
        if -1 in shape:  # data-dependent: TensorRT asks the allocator for memory during enqueue
            allocators[name] = OutputAllocator()
            if not context.set_output_allocator(name, allocators[name]):
                raise RuntimeError(f"set_output_allocator({name}) failed")
        else:
            bind(name, shape)
    for name in input_names:
        if name in device:
            check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed (see the TensorRT log above)")
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for name, allocator in allocators.items():  # the shape is known now
        host[name] = np.empty(allocator.shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        device[name] = allocator.address
    for name in output_names:
        if name in device and host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for pointer in device.values():
        check_cuda(cudart.cudaFree(pointer))
    check_cuda(cudart.cudaStreamDestroy(stream))
    return {name: host[name] for name in output_names}


def check_outputs(outputs, expected):
    """Compare each output with the reference: shape, dtype, then values (floats within the output's tolerance,
    TOLERANCE[name] or TOLERANCE; integers and booleans exactly). Prints one `check result` line per output."""
    passed = True
    for name, want in expected.items():
        got = outputs.get(name)
        tolerance = TOLERANCE.get(name, {"rtol": TOLERANCE["rtol"], "atol": TOLERANCE["atol"]})
        if got is None or got.shape != want.shape or got.dtype != want.dtype:
            found = "missing" if got is None else f"{got.shape} {got.dtype}"
            print(f"check result: False, {name}: got {found}, expected {want.shape} {want.dtype}")
            passed = False
            continue
        if want.dtype.kind in "fc":
            error = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
            same = bool(np.allclose(got, want, equal_nan=True, **tolerance))
            detail = f"max abs error = {error:.3e} (rtol={tolerance['rtol']}, atol={tolerance['atol']})"
        else:
            same = bool(np.array_equal(got, want))
            detail = f"{int(np.sum(got != want))} of {want.size} elements differ (exact comparison)"
        deviation = globals().get("KNOWN_DEVIATIONS", {}).get(name)
        if deviation:  # the documented result is the reference; TensorRT 8.6.0 is known to give another
            print(f"check result: {not same}, {name}: known deviation of TensorRT 8.6.0 still present: {not same},"
                  f" {detail}\n  {deviation}")
            if same:
                print(f"  TensorRT now follows its documentation here: remove {name} from KNOWN_DEVIATIONS")
            passed = passed and not same
        else:
            print(f"check result: {same}, {name}: {detail}")
            passed = passed and same
    return passed


def main():
    np.set_printoptions(precision=4, linewidth=120, suppress=True)
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"input {name} {value.shape} {value.dtype}:\n{value}")
    if "run_example" in globals():
        outputs = run_example(inputs)
    else:
        outputs = run_engine(build_engine(build_network, inputs), inputs)
    expected = reference(inputs)
    for name in expected:
        if name in outputs:
            print(f"output {name} {outputs[name].shape} {outputs[name].dtype}:\n{outputs[name]}")
    passed = check_outputs(outputs, expected)
    stem = os.path.splitext(os.path.basename(__file__))[0]
    np.savez(f"{stem}.output.npz", **{name: outputs[name] for name in expected if name in outputs})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
