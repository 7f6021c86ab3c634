#!/usr/bin/env python3
"""08-Advance/Performance: TensorRT 8.6 against what a reader would use instead, side by side in one process.

Two models with seeded random weights (nothing is downloaded): torchvision's ResNet-50 (224x224 images) and a
BERT-base-sized encoder (torch.nn.TransformerEncoder: 12 layers, d_model 768, 12 heads, FFN 3072, GELU, 128 tokens),
each at batch 1 (latency) and batch 32 (throughput), on the same inputs for every contender:
- torch eager FP32 (TF32 off: the reference every other contender is checked against), TF32, FP16 (ResNet-50 in
  channels_last; cudnn.benchmark on; everything in torch.inference_mode);
- torch.compile of the FP16 model, default mode (max-autotune behind --max-autotune: it compiles for minutes);
- TensorRT 8.6 engines built from the ONNX export (torch.onnx.export, dynamo=False, opset 17) with the ONNX parser:
  FP32 with TF32 off, FP32 with TF32 on, FP16, INT8 (post-training quantization with an IInt8EntropyCalibrator2 on
  generated data, FP16 allowed where INT8 has no kernel; the calibration cache is written and reused). One engine per
  precision and batch, its optimization profile min = opt = max = that batch: each batch tuned for itself (and
  trtexec 8.6.0 can run it: it has no option to pick another profile than 0). Every engine runs twice:
  execute_async_v3 in a Python loop, and the same call replayed from a CUDA graph.
Every contender's output is checked against torch FP32 on the GPU (max abs error, cosine similarity per sample) and
the torch FP32 baseline itself against torch on the CPU, so that a fast wrong answer cannot win. Times: CUDA events
around each call, warm-up, then median and p90 of --runs calls; build and compile times are reported apart.
trtexec --loadEngine on the FP16 plan (--noDataTransfers --useCudaGraph) gives the GPU compute time, the limit the
Python loop is compared with. Writes performance.md (the table), performance.json (every number), performance.png
(speed-up over torch eager FP32) and benchmark.output.npz (one boolean per check).
"""
import argparse
import copy
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import torch  # before tensorrt: torch loads its own CUDA libraries first
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 0.0, "atol": 0.0}  # the saved outputs are booleans: compared exactly
SEED = 31193
BATCHES = (1, 32)  # latency, throughput: one engine each
SEQ, D_MODEL, HEADS, LAYERS, FFN = 128, 768, 12, 12, 3072  # the encoder (BERT-base sizes)
CALIBRATION_BATCHES = 4  # INT8: 4 batches of 32 generated inputs
RESIDUAL_GAMMA = 0.2  # ResNet-50: the scale of each residual block's last BatchNorm (see make_resnet50)
# Minimum cosine similarity (per sample) with torch FP32 on the GPU; FP32 also max abs error <= 1e-3 * max |ref|.
THRESHOLD = {"fp32": 0.99999, "tf32": 0.999, "fp16": 0.999, "int8": 0.99}
MAX_ABS_FP32 = 1e-3
# contender: (label, precision class of its check)
CONTENDERS = {
    "torch_fp32": ("torch eager FP32 (TF32 off)", "fp32"), "torch_tf32": ("torch eager TF32", "tf32"),
    "torch_fp16": ("torch eager FP16", "fp16"), "compile_fp16": ("torch.compile FP16 (default)", "fp16"),
    "compile_max_autotune_fp16": ("torch.compile FP16 (max-autotune)", "fp16"),
    "trt_fp32": ("TensorRT FP32 (TF32 off)", "fp32"), "trt_tf32": ("TensorRT FP32 (TF32 on)", "tf32"),
    "trt_fp16": ("TensorRT FP16", "fp16"), "trt_int8": ("TensorRT INT8 (+FP16)", "int8"),
}
TRT_PRECISIONS = {"resnet50": ("fp32", "tf32", "fp16", "int8"), "encoder": ("fp16",)}  # default run: ~8 min
ALL_TRT_PRECISIONS = ("fp32", "tf32", "fp16", "int8")  # --all-precisions: the encoder at all four too


def default_contenders(model):
    """The contenders of the default run (`bash command.sh`): each one is a saved check."""
    names = ["torch_fp32", "torch_tf32", "torch_fp16", "compile_fp16"]
    for precision in TRT_PRECISIONS[model]:
        names += [f"trt_{precision}", f"trt_{precision}_graph"]
    return names


def output_keys():
    """The fixed set of saved checks, whatever the options: one per (model, batch, default contender), plus one per
    model saying that different inputs give outputs the cosine check tells apart."""
    keys = []
    for model in ("resnet50", "encoder"):
        keys.append(f"{model}_check_tells_inputs_apart")
        keys += [f"{model}_b{batch}_{name}_ok" for batch in BATCHES for name in default_contenders(model)]
    return keys


def make_inputs():
    """The benchmark generates its inputs on the GPU from SEED (torch generators); these are its parameters."""
    return {"seed": np.array(SEED, dtype=np.int64), "batches": np.array(BATCHES, dtype=np.int64)}


def reference(inputs):
    """Every check passes: each contender of the default run ran and agrees with torch FP32 on the GPU within its
    threshold (THRESHOLD), torch FP32 on the GPU agrees with torch on the CPU, and different inputs give outputs
    whose cosine stays below every threshold (so an output of the wrong input would fail)."""
    return {key: np.array(True) for key in output_keys()}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


# ---- the models and their inputs (torch, on the GPU) ----

def make_resnet50():
    """torchvision's ResNet-50 with seeded random weights, changed in two ways so that the output checks mean
    something (seen on the CPU, with FP16 and INT8 simulated by rounding):
    - the last BatchNorm scale of each residual block set to RESIDUAL_GAMMA, so that each block starts near the
      identity (torchvision's zero_init_residual=True sets 0 for that reason): with the plain init the random network
      amplifies small errors, FP16 rounding alone gave a logits cosine of 0.9996 and simulated INT8 0.983, no closer
      than another image's logits; with 0.2: 0.999999 and 0.9994, other images at most 0.973;
    - BatchNorm statistics measured on generated images (train mode, cumulative average): with the untouched ones
      (mean 0, variance 1) every image gives nearly the same logits (cosine 0.9998 between two images)."""
    import torchvision  # here, not at the top: the CPU test imports this script where torchvision may be absent

    torch.manual_seed(SEED)
    model = torchvision.models.resnet50(weights=None).cuda()
    for block in model.modules():
        if isinstance(block, torchvision.models.resnet.Bottleneck):
            torch.nn.init.constant_(block.bn3.weight, RESIDUAL_GAMMA)
    generator = torch.Generator(device="cuda").manual_seed(SEED + 1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative moving average over the batches below
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(32, 3, 224, 224, device="cuda", generator=generator))
    return model.eval()


def make_encoder():
    """A BERT-base-sized post-norm encoder; each layer is initialised on its own (nn.TransformerEncoder would copy
    one layer 12 times)."""
    torch.manual_seed(SEED)

    def layer():
        return torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, FFN, dropout=0.0, activation="gelu", batch_first=True)

    model = torch.nn.TransformerEncoder(layer(), LAYERS, enable_nested_tensor=False)
    model.layers = torch.nn.ModuleList([layer() for _ in range(LAYERS)])
    return model.cuda().eval()


def input_shape(model_name, batch):
    return (batch, 3, 224, 224) if model_name == "resnet50" else (batch, SEQ, D_MODEL)


def make_data(model_name, batch, seed):
    generator = torch.Generator(device="cuda").manual_seed(seed)
    return torch.randn(input_shape(model_name, batch), device="cuda", generator=generator)


def set_tf32(enabled):
    """TF32 for torch's FP32 convolutions and matrix multiplications. The flags of torch < 2.9: torch 2.9+ still
    honours them, and reading them back (torch.compile does) fails after a mix with its new fp32_precision API."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


# ---- timing and checking ----

def time_calls(call, stream, runs, warmup):
    """Median and p90 (ms) of `runs` calls, each between two CUDA events recorded on `stream` and waited for, after
    `warmup` calls. Waiting after each call measures one inference's latency, launch overhead included."""
    for _ in range(warmup):
        call()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(runs):
        start.record(stream)
        call()
        end.record(stream)
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times)), float(np.percentile(times, 90))


def compare(got, want, precision):
    """Cosine similarity per sample (the smallest is reported) and max abs error against the reference output."""
    got = got.detach().float().reshape(got.shape[0], -1).cpu().double().numpy()
    want = want.detach().float().reshape(want.shape[0], -1).cpu().double().numpy()
    cosine = float(np.min(np.sum(got * want, axis=1)
                          / np.maximum(np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1), 1e-30)))
    max_abs = float(np.max(np.abs(got - want)))
    ok = bool(np.all(np.isfinite(got))) and cosine >= THRESHOLD[precision]
    if precision == "fp32":
        ok = ok and max_abs <= MAX_ABS_FP32 * float(np.max(np.abs(want)))
    return ok, cosine, max_abs


def largest_cosine_between_samples(output):
    """The largest cosine similarity between the outputs of two different inputs of a batch."""
    flat = output.detach().float().reshape(output.shape[0], -1).cpu().double().numpy()
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    similarity = flat @ flat.T
    np.fill_diagonal(similarity, -1.0)
    return float(similarity.max())


# ---- TensorRT ----

class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
    """Hands TensorRT the calibration batches (torch CUDA tensors: get_batch returns their device pointers); reads
    and writes the calibration cache, so that a second run skips calibration."""

    def __init__(self, batches, cache_file):
        trt.IInt8EntropyCalibrator2.__init__(self)  # pybind11: the base class must be initialised explicitly
        self.batches, self.cache_file, self.given = batches, cache_file, 0

    def get_batch_size(self):
        return self.batches[0].shape[0]

    def get_batch(self, names):
        if self.given == len(self.batches):
            return None  # no more data: calibration ends
        self.given += 1
        return [self.batches[self.given - 1].data_ptr()]  # one device pointer per input name: here "input"

    def read_calibration_cache(self):
        if not os.path.isfile(self.cache_file):
            print(f"    no {self.cache_file}: TensorRT calibrates on {len(self.batches)} generated batches")
            return None
        with open(self.cache_file, "rb") as f:
            print(f"    calibration cache {self.cache_file} read: no calibration")
            return f.read()

    def write_calibration_cache(self, cache):
        with open(self.cache_file, "wb") as f:
            f.write(cache)
        print(f"    calibration cache written to {self.cache_file}")


def export_onnx(model, model_name, onnx_file):
    """torch -> ONNX (TorchScript exporter), batch axis dynamic. The encoder's fused inference path is switched off
    while exporting, so that the exporter sees the plain operators."""
    fastpath = hasattr(torch.backends, "mha") and hasattr(torch.backends.mha, "set_fastpath_enabled")
    if fastpath:
        torch.backends.mha.set_fastpath_enabled(False)
    with torch.no_grad():
        torch.onnx.export(model, make_data(model_name, 1, SEED), onnx_file, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    if fastpath:
        torch.backends.mha.set_fastpath_enabled(True)
    import onnx

    model_proto = onnx.load(onnx_file)
    if model_proto.ir_version > 8:  # IR 8 goes with opset 17, the newest TensorRT 8.6's parser was built for
        model_proto.ir_version = 8
        onnx.save(model_proto, onnx_file)


def fold_constant_mods(onnx_file):
    """Replace each ONNX Mod node whose two inputs are Constant nodes by a Constant holding the result. The
    TorchScript exporter leaves such nodes in nn.MultiheadAttention's graph; older ONNX-TensorRT operator lists mark
    Mod unsupported, and a constant folded here is harmless either way. Returns the number of nodes folded."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(onnx_file)
    constants = {node.output[0]: numpy_helper.to_array(node.attribute[0].t) for node in model.graph.node
                 if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value"}
    folded = 0
    for node in model.graph.node:
        if node.op_type == "Mod" and all(name in constants for name in node.input):
            a, b = (constants[name] for name in node.input)
            fmod = any(attribute.name == "fmod" and attribute.i for attribute in node.attribute)
            value = np.asarray(np.fmod(a, b) if fmod else np.mod(a, b), dtype=a.dtype)
            node.CopyFrom(onnx.helper.make_node("Constant", [], list(node.output), name=node.name,
                                                value=numpy_helper.from_array(value)))
            folded += 1
    if folded:
        onnx.save(model, onnx_file)
    return folded


def build_plan(builder, logger, onnx_file, model_name, precision, batch, timing_cache, calibrator, plan_file):
    """Parse the ONNX file and build one engine whose profile is exactly `batch`; returns the build seconds."""
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(onnx_file):
        errors = [parser.get_error(i) for i in range(parser.num_errors)]
        raise RuntimeError(f"{onnx_file} did not parse:\n" + "\n".join(f"code {e.code()}, node {e.node()}: {e.desc()}"
                                                                       for e in errors))
    config = builder.create_builder_config()
    if not config.set_timing_cache(timing_cache, False):  # one cache for every build: shared timings are reused
        raise RuntimeError("set_timing_cache refused the cache (made by another TensorRT or GPU?): delete "
                           "performance.timing.cache")
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # the inspector then shows each layer's precision
    if precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default on Ampere and newer
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator  # the first INT8 build calibrates, the next one reads the cache
        calibration = builder.create_optimization_profile()  # the shape of the calibration batches
        calibration.set_shape("input", *[tuple(calibrator.batches[0].shape)] * 3)
        config.set_calibration_profile(calibration)
    profile = builder.create_optimization_profile()  # min = opt = max: tuned for exactly this batch
    profile.set_shape("input", *[input_shape(model_name, batch)] * 3)
    config.add_optimization_profile(profile)
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if serialized is None:
        raise RuntimeError(f"building {plan_file} failed (see the TensorRT log above)")
    with open(plan_file, "wb") as f:
        f.write(serialized)
    return seconds


def layer_precisions(engine, model_name, batch):
    """{data type: number of engine layers whose first input has it}, from the engine inspector."""
    context = engine.create_execution_context()
    context.set_input_shape("input", input_shape(model_name, batch))
    inspector = engine.create_engine_inspector()
    inspector.execution_context = context
    # strict=False: seen with TensorRT 8.6.0, the JSON can hold control characters inside strings
    layers = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON), strict=False)["Layers"]
    counts = {}
    for layer in layers:
        inputs = layer.get("Inputs", []) if isinstance(layer, dict) else []
        text = inputs[0].get("Format/Datatype", "") if inputs else ""
        # seen with TensorRT 8.6.0 on an H200: an engine whose network input has a dynamic dimension reports
        # "N/A due to dynamic shapes" for every format, even with a context whose shape is set
        kind = next((k for k, words in (("INT8", ("int8",)), ("FP16", ("fp16", "half")), ("FP32", ("fp32", "float")),
                                        ("N/A (dynamic shapes)", ("n/a",)))
                     if any(w in text.lower() for w in words)), "other")
        counts[kind] = counts.get(kind, 0) + 1
    del inspector, context  # the profile is free again for the contexts that run
    return counts


def run_trt(engine, x, reference_output, precision, runs, warmup):
    """One context: execute_async_v3 in a loop, then the same call replayed from a CUDA graph.
    Returns [(row name suffix, ok, cosine, max abs error, median, p90, status)] for both."""
    stream = check_cuda(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking))  # captured below
    torch_stream = torch.cuda.ExternalStream(int(stream))  # the same stream, for torch's CUDA events
    context = engine.create_execution_context()
    if not context.set_input_shape("input", tuple(x.shape)):
        raise RuntimeError(f"set_input_shape{tuple(x.shape)} failed: outside the engine's profile?")
    output = torch.empty(tuple(context.get_tensor_shape("output")), dtype=torch.float32, device="cuda")
    context.set_tensor_address("input", x.data_ptr())  # the torch tensors' memory, no copies
    context.set_tensor_address("output", output.data_ptr())
    torch.cuda.synchronize()

    def execute():
        if not context.execute_async_v3(int(stream)):
            raise RuntimeError("execute_async_v3 failed (see the TensorRT log above)")

    results = []
    execute()  # also does the work TensorRT defers to the first enqueue after the shapes are set: outside the graph
    check_cuda(cudart.cudaStreamSynchronize(stream))
    ok, cosine, max_abs = compare(output, reference_output, precision)
    results.append(("", ok, cosine, max_abs) + time_calls(execute, torch_stream, runs, warmup) + ("ran",))

    try:  # capture once: TensorRT's kernels and their arguments (addresses, shapes) are recorded, not run
        check_cuda(cudart.cudaStreamBeginCapture(stream,
                                                 cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal))
        captured = context.execute_async_v3(int(stream))
        graph = check_cuda(cudart.cudaStreamEndCapture(stream))  # ends the capture, also after a failed enqueue
        if not captured:
            raise RuntimeError("execute_async_v3 failed during stream capture")
        graph_exec = check_cuda(cudart.cudaGraphInstantiate(graph, 0))
        output.zero_()  # the graph's own output is checked, not the loop's
        torch.cuda.synchronize()
        check_cuda(cudart.cudaGraphLaunch(graph_exec, stream))
        check_cuda(cudart.cudaStreamSynchronize(stream))
        ok, cosine, max_abs = compare(output, reference_output, precision)
        launch = lambda: check_cuda(cudart.cudaGraphLaunch(graph_exec, stream))  # noqa: E731
        results.append(("_graph", ok, cosine, max_abs) + time_calls(launch, torch_stream, runs, warmup) + ("ran",))
        check_cuda(cudart.cudaGraphExecDestroy(graph_exec))
        check_cuda(cudart.cudaGraphDestroy(graph))
    except RuntimeError as error:  # reported in the table; the loop's results above stand
        results.append(("_graph", False) + (float("nan"),) * 4 + (f"could not run: {str(error)[:200]}",))
    del context
    check_cuda(cudart.cudaStreamDestroy(stream))
    return results


def trtexec_gpu_compute(plan_file, model_name, batch):
    """trtexec's 'GPU Compute Time' median (ms) on the plan, or None and why not."""
    exe = shutil.which("trtexec")
    if exe is None:
        return None, "trtexec is not on PATH: the limit column is skipped"
    shape = "x".join(str(d) for d in input_shape(model_name, batch))
    log_file = f"trtexec_{model_name}_b{batch}.log"
    command = [exe, f"--loadEngine={plan_file}", f"--shapes=input:{shape}", "--noDataTransfers", "--useCudaGraph",
               "--warmUp=500", "--duration=2"]
    print("    " + " ".join(command))
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    with open(log_file, "w") as f:
        f.write(proc.stdout + proc.stderr)
    found = re.search(r"GPU Compute Time: .*?median = ([0-9.eE+-]+) ms", proc.stdout)
    if found is not None:
        return float(found.group(1)), None
    for line in (proc.stdout + proc.stderr).strip().splitlines()[-5:]:  # why, in the benchmark's own output
        print(f"      trtexec: {line[:200]}")
    return None, f"no 'GPU Compute Time' line from trtexec (exit {proc.returncode}, see {log_file})"


# ---- the benchmark ----

def benchmark_model(model_name, args, rows, limits, checks):
    import torch._dynamo  # reset between compilations; imported here: it fails beside the CPU test's stand-in tensorrt

    print(f"\n===== {model_name} =====")
    model32 = make_resnet50() if model_name == "resnet50" else make_encoder()
    large = BATCHES[-1]
    inputs = {large: make_data(model_name, large, SEED + 2)}
    inputs[1] = inputs[large][:1].clone()  # batch 1 is the first sample of batch 32
    set_tf32(False)
    cpu_model = copy.deepcopy(model32).cpu()  # copies made outside inference_mode stay ordinary modules
    with torch.inference_mode():
        expected = {b: model32(inputs[b]).clone() for b in BATCHES}  # torch FP32 on the GPU: the reference
        on_cpu = {b: cpu_model(inputs[b].cpu()) for b in BATCHES}  # and the check of that reference
    del cpu_model
    apart = largest_cosine_between_samples(expected[large])
    checks[f"{model_name}_check_tells_inputs_apart"] = apart < min(THRESHOLD.values())
    print(f"check result: {apart < min(THRESHOLD.values())}, {model_name}: two different inputs give outputs with "
          f"cosine up to {apart:.4f}, below every threshold ({min(THRESHOLD.values())}): the output of a wrong input "
          "fails the check")

    def record(batch, name, precision, ok, cosine, max_abs, median, p90, build_s=None, status="ran"):
        label = CONTENDERS[name.replace("_graph", "")][0] + (" + CUDA graph" if name.endswith("_graph") else "")
        rows.append({"model": model_name, "batch": batch, "contender": name, "label": label, "precision": precision,
                     "ok": ok, "cosine": cosine, "max_abs_error": max_abs, "median_ms": median, "p90_ms": p90,
                     "build_s": build_s, "status": status})
        checks[f"{model_name}_b{batch}_{name}_ok"] = bool(ok)
        if status == "ran":
            print(f"check result: {ok}, {model_name} batch {batch} {label}: min cosine {cosine:.6f} "
                  f"(>= {THRESHOLD[precision]}), max abs error {max_abs:.3e}; median {median:.3f} ms, p90 {p90:.3f} ms")
        else:
            print(f"check result: False, {model_name} batch {batch} {label}: {status}")

    # torch eager: FP32 (TF32 off), TF32, FP16 (channels_last for the CNN), in inference_mode, cudnn.benchmark on
    model16 = copy.deepcopy(model32).half()
    inputs16 = {b: inputs[b].half() for b in BATCHES}
    if model_name == "resnet50":
        model16 = model16.to(memory_format=torch.channels_last)
        inputs16 = {b: x.contiguous(memory_format=torch.channels_last) for b, x in inputs16.items()}
    current = torch.cuda.current_stream()
    with torch.inference_mode():
        for batch in BATCHES:
            for name, tf32, model, x, want in (("torch_fp32", False, model32, inputs[batch], on_cpu[batch]),
                                               ("torch_tf32", True, model32, inputs[batch], expected[batch]),
                                               ("torch_fp16", False, model16, inputs16[batch], expected[batch])):
                set_tf32(tf32)
                got = model(x)
                torch.cuda.synchronize()
                ok, cosine, max_abs = compare(got, want, CONTENDERS[name][1])
                record(batch, name, CONTENDERS[name][1], ok, cosine, max_abs,
                       *time_calls(lambda: model(x), current, args.runs, args.warmup))  # noqa: B023
        set_tf32(False)

        # torch.compile of the FP16 model: one static graph per batch (dynamic=False), compile time = first call
        modes = [("compile_fp16", None)]
        if args.max_autotune:
            modes.append(("compile_max_autotune_fp16", "max-autotune"))
        for name, mode in modes:
            torch._dynamo.reset()
            compiled = torch.compile(model16, mode=mode, dynamic=False)
            for batch in BATCHES:
                x = inputs16[batch]
                try:  # torch.compile needs triton and a C compiler: where it cannot run, say why
                    start = time.perf_counter()
                    compiled(x)
                    torch.cuda.synchronize()
                    compile_s = time.perf_counter() - start
                except Exception as error:  # noqa: BLE001 (reported, and its check fails)
                    record(batch, name, "fp16", False, float("nan"), float("nan"), float("nan"), float("nan"),
                           status=f"could not run: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
                    continue
                got = compiled(x)
                torch.cuda.synchronize()
                ok, cosine, max_abs = compare(got, expected[batch], "fp16")
                timing = time_calls(lambda: compiled(x), current, args.runs, args.warmup)  # noqa: B023
                record(batch, name, "fp16", ok, cosine, max_abs, *timing, build_s=compile_s)
    del model16, inputs16
    torch._dynamo.reset()
    torch.cuda.empty_cache()

    # TensorRT: ONNX export, then one engine per precision with a shared timing cache
    onnx_file = f"{model_name}.onnx"
    export_onnx(model32, model_name, onnx_file)
    del model32
    torch.cuda.empty_cache()
    print(f"exported {onnx_file} ({os.path.getsize(onnx_file) / 2**20:.0f} MiB), constant Mod nodes folded: "
          f"{fold_constant_mods(onnx_file)}")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    cache_file = "performance.timing.cache"
    cache_bytes = open(cache_file, "rb").read() if os.path.isfile(cache_file) else b""
    cache_config = builder.create_builder_config()  # the cache is not tied to it: every build's config takes it
    timing_cache = cache_config.create_timing_cache(cache_bytes)
    precisions = ALL_TRT_PRECISIONS if args.all_precisions else TRT_PRECISIONS[model_name]
    runtime = trt.Runtime(logger)
    for precision in precisions:
        name = f"trt_{precision}"
        calibrator = None
        if precision == "int8":
            batches = [make_data(model_name, large, SEED + 100 + i) for i in range(CALIBRATION_BATCHES)]
            calibrator = EntropyCalibrator(batches, f"{model_name}.int8.cache")
        for batch in BATCHES:
            plan_file = f"{model_name}.{precision}.b{batch}.plan"
            torch.cuda.synchronize()
            print(f"--- building {plan_file} (profile: batch {batch} only)")
            try:  # a build or run that fails is reported in the table (its checks fail); the others go on
                build_s = build_plan(builder, logger, onnx_file, model_name, precision, batch, timing_cache,
                                     calibrator, plan_file)
                with open(cache_file, "wb") as f:
                    f.write(timing_cache.serialize())
                with open(plan_file, "rb") as f:
                    engine = runtime.deserialize_cuda_engine(f.read())
                if engine is None:
                    raise RuntimeError(f"deserializing {plan_file} failed")
                counts = layer_precisions(engine, model_name, batch)
                print(f"    built in {build_s:.1f} s; engine layers by input precision (engine inspector): {counts}")
                want = {"fp16": "FP16", "int8": "INT8"}.get(precision)
                if want and not counts.get(want):
                    print(f"    the inspector shows no {want} layer (a region fused into one layer does not show "
                          f"its inside): the label {precision.upper()} names the builder flags, not a seen precision")
                results = run_trt(engine, inputs[batch], expected[batch], CONTENDERS[name][1], args.runs,
                                  args.warmup)
                del engine
            except RuntimeError as error:
                for suffix in ("", "_graph"):
                    record(batch, name + suffix, CONTENDERS[name][1], False, *[float("nan")] * 4,
                           status=f"could not run: {str(error).splitlines()[0][:200]}")
                continue
            for suffix, ok, cosine, max_abs, median, p90, status in results:
                record(batch, name + suffix, CONTENDERS[name][1], ok, cosine, max_abs, median, p90,
                       build_s=None if suffix else build_s, status=status)
                rows[-1]["layers"] = counts
            if precision == "fp16":  # the limit: trtexec's GPU compute time on the same plan
                gpu_ms, why = trtexec_gpu_compute(plan_file, model_name, batch)
                mine = {r["contender"]: r["median_ms"] for r in rows
                        if r["model"] == model_name and r["batch"] == batch}
                limits.append({"model": model_name, "batch": batch, "trtexec_gpu_compute_ms": gpu_ms, "note": why,
                               "python_ms": mine["trt_fp16"], "python_graph_ms": mine["trt_fp16_graph"]})
                print(f"    trtexec GPU compute median, batch {batch}: {why or f'{gpu_ms:.3f} ms'}")
        del calibrator
        torch.cuda.empty_cache()


def environment():
    props = torch.cuda.get_device_properties(0)
    driver = check_cuda(cudart.cudaDriverGetVersion())
    return {"gpu": torch.cuda.get_device_name(0), "compute_capability": f"{props.major}.{props.minor}",
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "tensorrt": trt.__version__, "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "cudnn_torch": torch.backends.cudnn.version(), "driver_cuda": f"{driver // 1000}.{driver % 1000 // 10}",
            "python": sys.version.split()[0]}


def render(env, rows, limits, targets, args):
    """The markdown of performance.md: environment, the table, how close to trtexec, the targets."""
    lines = [f"GPU: {env['gpu']} (compute capability {env['compute_capability']}), {env['date']}",
             f"TensorRT {env['tensorrt']}, torch {env['torch']} (CUDA {env['torch_cuda']}, cuDNN {env['cudnn_torch']}),"
             f" driver CUDA {env['driver_cuda']}, Python {env['python']}",
             f"median and p90 of {args.runs} runs after {args.warmup} warm-up runs, CUDA events, one process", "",
             "| model | batch | contender | median ms | p90 ms | samples/s | speed-up vs eager FP32 | build/compile s "
             "| check: min cosine, max abs error |", "|---|---|---|---|---|---|---|---|---|"]
    base = {(r["model"], r["batch"]): r["median_ms"] for r in rows if r["contender"] == "torch_fp32"}
    for r in rows:
        if r["status"] != "ran":
            lines.append(f"| {r['model']} | {r['batch']} | {r['label']} | - | - | - | - | - | FAILED: {r['status']} |")
            continue
        speedup = base[(r["model"], r["batch"])] / r["median_ms"]
        build = f"{r['build_s']:.1f}" if r["build_s"] is not None else ""
        check = f"{'ok' if r['ok'] else 'FAILED'}: {r['cosine']:.6f}, {r['max_abs_error']:.2e}"
        lines.append(f"| {r['model']} | {r['batch']} | {r['label']} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} | "
                     f"{r['batch'] * 1000 / r['median_ms']:.0f} | {speedup:.2f}x | {build} | {check} |")
    lines += ["", "The limit: trtexec --loadEngine on the FP16 plan (--noDataTransfers --useCudaGraph), GPU compute "
              "time median, against the Python loop (target: within 10 %)", "",
              "| model | batch | trtexec GPU compute ms | Python execute_async_v3 ms | Python CUDA graph ms | "
              "CUDA graph / trtexec |", "|---|---|---|---|---|---|"]
    for lim in limits:
        if lim["trtexec_gpu_compute_ms"] is None:
            lines.append(f"| {lim['model']} | {lim['batch']} | - ({lim['note']}) | {lim['python_ms']:.3f} | "
                         f"{lim['python_graph_ms']:.3f} | - |")
        else:
            ratio = lim["python_graph_ms"] / lim["trtexec_gpu_compute_ms"]
            lines.append(f"| {lim['model']} | {lim['batch']} | {lim['trtexec_gpu_compute_ms']:.3f} | "
                         f"{lim['python_ms']:.3f} | {lim['python_graph_ms']:.3f} | {ratio:.3f} "
                         f"({'within' if ratio <= 1.10 else 'not within'} 10 %) |")
    lines += ["", "Targets for ResNet-50, batch 32 (reported, not asserted):"]
    lines += [f"- {t}" for t in targets]
    return "\n".join(lines) + "\n"


def resnet_targets(rows):
    time_of = {r["contender"]: r["median_ms"] for r in rows
               if r["model"] == "resnet50" and r["batch"] == BATCHES[-1] and r["status"] == "ran"}
    targets = []
    for what, slow, fast, goal in (("TensorRT FP16 vs torch eager FP16", "torch_fp16", "trt_fp16", 3.5),
                                   ("TensorRT FP16 vs torch.compile FP16 (default)", "compile_fp16", "trt_fp16", 1.4),
                                   ("TensorRT INT8 vs TensorRT FP16 (INT8 faster)", "trt_fp16", "trt_int8", 1.0)):
        if slow in time_of and fast in time_of:  # execute_async_v3 in a loop, without CUDA graph
            ratio = time_of[slow] / time_of[fast]
            reached = ratio > goal if goal == 1.0 else ratio >= goal
            targets.append(f"{what}: {ratio:.2f}x (target {'>' if goal == 1.0 else '>='} {goal}x: "
                           f"{'reached' if reached else 'missed'})")
        else:
            targets.append(f"{what}: not measured in this run")
    return targets


def plot(rows, png_file, title):
    """Speed-up over torch eager FP32, one panel per (model, batch): models in rows, batches in columns."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: no {png_file}")
        return
    models = sorted({r["model"] for r in rows}, key=lambda m: m != "resnet50")
    figure, axes = plt.subplots(len(models), len(BATCHES), figsize=(11, 4.2 * len(models)), squeeze=False)
    for axis, (model, batch) in zip(axes.ravel(), [(m, b) for m in models for b in BATCHES]):
        mine = [r for r in rows if (r["model"], r["batch"]) == (model, batch) and r["status"] == "ran"]
        base = next(r["median_ms"] for r in mine if r["contender"] == "torch_fp32")
        labels = [r["label"].replace("TensorRT", "TRT").replace(" + CUDA graph", " +graph") for r in mine]
        values = [base / r["median_ms"] for r in mine]
        colors = ["tab:gray" if r["contender"].startswith(("torch", "compile")) else "tab:green" for r in mine]
        axis.barh(range(len(mine)), values, color=colors)
        axis.set_yticks(range(len(mine)))
        axis.set_yticklabels(labels, fontsize=7)
        axis.invert_yaxis()
        axis.axvline(1.0, color="black", linewidth=0.8)
        for i, value in enumerate(values):
            axis.text(value, i, f" {value:.1f}x", va="center", fontsize=7)
        axis.set_title(f"{model}, batch {batch}", fontsize=9)
        axis.set_xlabel("speed-up over torch eager FP32 (median)", fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(png_file, dpi=80)
    print(f"wrote {png_file} ({os.path.getsize(png_file)} bytes)")


def parse_args():
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--quick", action="store_true", help="ResNet-50 only, 100 timed runs: a first try")
    options.add_argument("--max-autotune", action="store_true", help="also torch.compile mode='max-autotune' (minutes)")
    options.add_argument("--all-precisions", action="store_true",
                         help="the encoder at all four TensorRT precisions (default: FP16 only, for time)")
    options.add_argument("--runs", type=int, default=None, help="timed runs per contender (default 200, --quick 100)")
    options.add_argument("--warmup", type=int, default=20, help="warm-up runs per contender")
    args = options.parse_args()
    args.runs = args.runs or (100 if args.quick else 200)
    if args.runs < 100:
        options.error("--runs: at least 100, for a median and p90 worth reading")
    return args


def main():
    args = parse_args()
    torch.backends.cudnn.benchmark = True  # let cuDNN time its algorithms for each shape: best settings for torch
    env = environment()
    print(f"{env['gpu']}, TensorRT {env['tensorrt']}, torch {env['torch']} (CUDA {env['torch_cuda']}), "
          f"{env['date']}")
    rows, limits, checks = [], [], {}
    models = ("resnet50",) if args.quick else ("resnet50", "encoder")
    for model_name in models:
        benchmark_model(model_name, args, rows, limits, checks)

    targets = resnet_targets(rows)
    table = render(env, rows, limits, targets, args)
    print("\n" + table)
    with open("performance.md", "w") as f:
        f.write(table)
    with open("performance.json", "w") as f:
        json.dump({"environment": env, "options": vars(args), "thresholds": THRESHOLD, "rows": rows,
                   "trtexec": limits, "targets": targets}, f, indent=1)
    print("wrote performance.md and performance.json")
    plot(rows, "performance.png", f"{env['gpu']}, TensorRT {env['tensorrt']}, torch {env['torch']}, {env['date']}")

    saved = {key: np.array(bool(checks.get(key, False))) for key in output_keys()}
    not_run = [key for key in output_keys() if key not in checks]
    if not_run:
        print(f"not run with these options, saved as False: {len(not_run)} checks ({', '.join(not_run[:3])}, ...)")
    np.savez("benchmark.output.npz", **saved)
    passed = all(checks.values())  # every check that ran: default contenders and those added by options
    print(f"check result: {passed}, all {len(checks)} checks of this run")
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
