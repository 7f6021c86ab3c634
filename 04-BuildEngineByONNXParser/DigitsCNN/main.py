#!/usr/bin/env python3
"""04-BuildEngineByONNXParser/DigitsCNN: a trained PyTorch model -> ONNX -> trt.OnnxParser -> engines in FP32, FP16
and INT8 (post-training quantization with a calibrator and its cache), checked on a real test set.

The model is chapter 03's CNN (its weights digits_cnn.npz, trained by 03's train.py on scikit-learn's digits): the
torch module is written here and loads those weights. run_example() exports it with torch.onnx.export (the
TorchScript exporter, dynamo=False, opset 17, a dynamic batch axis), then, for each engine, parses the ONNX file
into a fresh network with trt.OnnxParser (printing every parser error if parsing fails), adds an optimization
profile of 1..64 images and builds: FP32 (TF32 cleared), FP16, and INT8 twice with an IInt8EntropyCalibrator2 over
the training images (the first build calibrates and writes main.cache, the second reads it). Each engine runs the
360 test images; the script prints the largest |logit - torch logit| and the accuracy of each, and checks them
against torch's CPU forward, with the precision the engine inspector reports for each convolution. main.cpp parses
the same ONNX file with the C++ parser.
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

from calibrator import EntropyCalibrator2, inspect_convolutions, print_cache
from digits import load

# Logits: FP32 equals torch (1e-4); FP16 within 0.1 + 1 % of the logit: FP16 keeps 11 significant bits, so logits
# of 16..32 are rounded to steps of 1/64 (0.016) and an absolute 1e-2 is finer than FP16 can store. Accuracies
# (1 image of 360 is 0.0028) against torch's: FP32 the same, FP16 within 0.5 %, INT8 within 1 %.
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4, "logits_fp16": {"rtol": 1e-2, "atol": 0.1},
             "accuracy_fp32": {"rtol": 0.0, "atol": 0.003}, "accuracy_fp16": {"rtol": 0.0, "atol": 0.005},
             "accuracy_int8": {"rtol": 0.0, "atol": 0.01}}
REFERENCE_TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # torch on another CPU
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits_cnn.npz")
ONNX_FILE = "digits_cnn.onnx"  # written by export_onnx(); main.cpp parses it too
CACHE_FILE = "main.cache"
BATCH_MIN, BATCH_OPT, BATCH_MAX = 1, 32, 64  # the optimization profile; calibration batches have BATCH_OPT images
# PRECISION_NOTE: BuilderFlag.FP16 and BuilderFlag.INT8 only allow FP16 / INT8 kernels; the builder times them and
# keeps FP32 where FP32 is faster. On a CNN this small the two are close: seen with TensorRT 8.6.0 on an H200, one
# INT8 build chose INT8 convolutions and another, of the same network and flags, kept every layer in FP32; and an
# FP16 build that ran beside 15 other examples under CUDA MPS (the test suite) kept every convolution in FP32. So
# the FP16 and INT8 builds also ask for convolutions in their precision (layer.precision +
# PREFER_PRECISION_CONSTRAINTS), and the inspector checks that they got it.


class DigitsCNN(torch.nn.Module):
    """Chapter 03's train.py network: [N,1,28,28] images -> [N,10] logits."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = torch.nn.Linear(32 * 7 * 7, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def load_model():
    model = DigitsCNN()
    with np.load(WEIGHTS) as data:  # float32 arrays under their state_dict names: conv1.weight, ..., fc2.bias
        model.load_state_dict({name: torch.from_numpy(data[name]) for name in data.files})
    return model.eval()


def export_onnx():
    """torch -> ONNX with the TorchScript exporter; dimension 0 of input and output is named, so it stays dynamic."""
    torch.onnx.export(load_model(), torch.zeros(1, 1, 28, 28), ONNX_FILE, dynamo=False, opset_version=17,
                      input_names=["inputT0"], output_names=["logits"],
                      dynamic_axes={"inputT0": {0: "batch"}, "logits": {0: "batch"}})
    print(f"exported {ONNX_FILE} ({os.path.getsize(ONNX_FILE)} bytes)")


def parse_onnx(network, logger):
    """Fill `network` from the ONNX file. Returns the parser, which owns the weights the network uses."""
    parser = trt.OnnxParser(network, logger)
    with open(ONNX_FILE, "rb") as f:
        parsed = parser.parse(f.read())
    if not parsed:  # every error the parser recorded: its code, the index of the ONNX node, the description
        for i in range(parser.num_errors):
            error = parser.get_error(i)
            print(f"parser error {i}: code {error.code()}, node {error.node()}: {error.desc()}")
        raise RuntimeError(f"{ONNX_FILE} did not parse: {parser.num_errors} error(s), printed above")
    return parser


def network_with(precision, logger, conv_names, calibrator=None, batch=-1):
    """A build_network() for the run block's build_engine(): parse, profile, precision flags.
    batch=-1: the ONNX file's dynamic batch, 1..64 images; a number: that fixed batch, without a profile."""
    def build_network(builder, network, config, inputs):
        parser = parse_onnx(network, logger)
        if batch != -1:  # a network input's shape may be changed after parsing
            network.get_input(0).shape = (batch, 1, 28, 28)
        layers = [network.get_layer(i) for i in range(network.num_layers)]
        conv_names[:] = [layer.name for layer in layers if layer.type == trt.LayerType.CONVOLUTION]
        if precision == "fp32":  # once: what the parser made of the ONNX nodes
            print(f"parsed: input {network.get_input(0).name} {tuple(network.get_input(0).shape)}, output "
                  f"{network.get_output(0).name} {tuple(network.get_output(0).shape)}, {len(layers)} layers:")
            print("\n".join(f"    {layer.type.name:16s} {layer.name}" for layer in layers))
        config.clear_flag(trt.BuilderFlag.TF32)  # FP32 layers compute in FP32 (TF32 is on by default on Ampere+)
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector shows the formats
        if batch == -1:
            profile = builder.create_optimization_profile()  # the ONNX batch axis became -1: give it a range
            profile.set_shape("inputT0", (BATCH_MIN, 1, 28, 28), (BATCH_OPT, 1, 28, 28), (BATCH_MAX, 1, 28, 28))
            config.add_optimization_profile(profile)
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)  # allows FP16 kernels where the builder finds them faster
        if precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)  # allows INT8 kernels, with scales from the calibrator
            config.int8_calibrator = calibrator
            if batch == -1:
                calibration = builder.create_optimization_profile()  # the shape of the calibration batches
                calibration.set_shape("inputT0", *[(BATCH_OPT, 1, 28, 28)] * 3)
                config.set_calibration_profile(calibration)
        if precision in ("fp16", "int8"):  # see PRECISION_NOTE: or the builder may time FP32 faster
            config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
            for layer in layers:
                if layer.type == trt.LayerType.CONVOLUTION:
                    layer.precision = trt.float16 if precision == "fp16" else trt.int8  # where such a kernel exists
        return parser, calibrator  # both must stay alive until the build ends
    return build_network


def run_example(inputs):
    images, labels = inputs["inputT0"], load("test")[1]
    expected = torch_logits(images)
    export_onnx()
    if os.path.exists(CACHE_FILE):
        os.remove(CACHE_FILE)  # the first INT8 build must calibrate
    logger = trt.Logger(trt.Logger.WARNING)
    conv_names = []
    engines = {name: build_engine(network_with(name.lower(), logger, conv_names), inputs, logger)
               for name in ("FP32", "FP16")}
    calibrators = []
    for attempt in ("calibrate and write the cache", "read the cache"):
        print(f"=== INT8 build, IInt8EntropyCalibrator2: {attempt}")
        calibrator = EntropyCalibrator2(load("train")[0], BATCH_OPT, CACHE_FILE)  # fresh: only the file is kept
        engines["INT8"] = build_engine(network_with("int8", logger, conv_names, calibrator), inputs, logger)
        calibrator.release()
        print(f"  get_batch was called {calibrator.get_batch_calls} times")
        calibrators.append(calibrator)
    print_cache(CACHE_FILE)
    outputs = {}
    rows = [f"{'torch (CPU)':12s} {'-':>26s} {np.mean(expected.argmax(axis=1) == labels):9.4f}"]
    for precision, engine in engines.items():
        # The inspector needs static shapes (see inspect_convolutions): the same parse and flags once more with the
        # batch fixed at BATCH_OPT, the shape whose kernels the dynamic engine chose (INT8: scales from the cache).
        print(f"=== {precision}: the same build with a fixed batch of {BATCH_OPT}, its layers (engine inspector):")
        calibrator = EntropyCalibrator2(load("train")[0], BATCH_OPT, CACHE_FILE) if precision == "INT8" else None
        fixed = build_engine(network_with(precision.lower(), logger, [], calibrator, BATCH_OPT), inputs, logger)
        formats = inspect_convolutions(fixed, conv_names)
        if calibrator is not None:
            calibrator.release()  # its device buffer
        logits = np.concatenate([run_engine(engine, {"inputT0": images[i:i + BATCH_MAX]})["logits"]
                                 for i in range(0, len(images), BATCH_MAX)])  # 5 batches of 64, then 40
        accuracy = np.mean(logits.argmax(axis=1) == labels)
        rows.append(f"{precision:12s} {np.max(np.abs(logits - expected)):26.3e} {accuracy:9.4f}  "
                    + ", ".join(f"{conv}: {fmt}" for conv, fmt in formats.items()))
        outputs[f"accuracy_{precision.lower()}"] = np.array(accuracy, dtype=np.float32)
        read = [fmt.lower() for fmt in formats.values()]  # the builder may keep some layers of this CNN in FP32
        if precision == "FP32":
            outputs["logits_fp32"] = logits
            outputs["fp32_convolutions"] = np.array(len(read) > 0 and all("fp32" in f for f in read))
        elif precision == "FP16":
            outputs["logits_fp16"], outputs["fp16_convolution"] = logits, np.array(any("fp16" in f for f in read))
        else:
            outputs["int8_convolution"] = np.array(any("int8" in f for f in read))
    print(f"\n{'precision':12s} {'max |logit - torch logit|':>26s} {'accuracy':>9s}  convolutions read")
    print("\n".join(rows))
    first, second = calibrators
    outputs["cache_reused"] = np.array(first.get_batch_calls > 0 and second.cache_read and second.get_batch_calls == 0)
    return outputs


def torch_logits(images):
    """The same module on the CPU, in float64 (from the float32 weights): logits [N,10] as float32."""
    with torch.no_grad():
        return load_model().double()(torch.from_numpy(images).double()).numpy().astype(np.float32)


def make_inputs():
    return {"inputT0": load("test")[0]}  # the 360 test images, [360,1,28,28] in [0,1]


def reference(inputs):
    """torch's logits and accuracy (the target of every precision, within TOLERANCE), and the facts that must hold:
    the FP32 engine's convolutions read FP32, at least one convolution of the FP16 / INT8 engine reads FP16 / INT8,
    and the second INT8 build took the cache instead of calibrating."""
    logits = torch_logits(inputs["inputT0"])
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
