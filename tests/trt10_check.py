#!/usr/bin/env python3
"""What changes in TensorRT 10 for a TensorRT 8.6 Python script: a CPU check by name, no TensorRT needed.

    python3 tests/trt10_check.py FILE_OR_FOLDER...   # per script: the TensorRT names TensorRT 10 removed or
                                                     # deprecates, and what to use instead
    python3 tests/trt10_check.py --write-notes       # write the "TensorRT 10" section at the end of every
                                                     # example's README.md (between the trt10 markers)
    python3 tests/trt10_check.py --migration-table   # print the 8.6 -> 10.x table for the root README

It reads tests/trt10_api.txt (TensorRT 10.13's Python API from the tensorrt-stubs wheel, and what 8.6.0 had that
10.13 lacks; made by tests/make_trt10_api.py) and walks each script's syntax tree:
- every `trt.Name`, `trt.Enum.VALUE`, `trt.Class.member` is looked up exactly;
- every `obj.member` where the type of `obj` is known (`builder = trt.Builder(...)`, `network =
  builder.create_network()`, `layer = network.add_convolution_nd(...)`, following the stubs' return types, and the
  usual names `builder`, `network`, `config`, `engine`, `context`, ...) is looked up in that class; where it is
  not known, a member name that 8.6.0 had and no 10.13 class has (or that every 10.13 class holding it marks
  deprecated) is reported, as it can only be that TensorRT API or a name of the script's own;
- methods a script's subclass of a TensorRT interface defines (`def free(self, ...)` in an IGpuAllocator) are
  looked up in that interface.
It is a check by name: it cannot see arguments, default values or behaviour that changed. MIGRATIONS below says
what replaces each change (every TensorRT 10 name it gives is checked against the stubs by tests/test_trt10.py).
"""
import argparse
import ast
import fnmatch
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from examples import ROOT, find_examples  # noqa: E402

API_FILE = Path(__file__).resolve().parent / "trt10_api.txt"
START, END = "<!-- trt10:start -->", "<!-- trt10:end -->"
TRT_MODULE = "tensorrt"
# Parameter names the examples use for TensorRT objects (build_network(builder, network, config, inputs), ...).
USUAL_NAMES = {"builder": "Builder", "network": "INetworkDefinition", "config": "IBuilderConfig",
               "engine": "ICudaEngine", "context": "IExecutionContext", "runtime": "Runtime",
               "profile": "IOptimizationProfile", "parser": "OnnxParser", "refitter": "Refitter",
               "inspector": "EngineInspector", "timing_cache": "ITimingCache", "tensor": "ITensor", "layer": "ILayer"}
# Deprecated in TensorRT 10's C++ headers (`class TRT_DEPRECATED IPluginV2`, `IPluginCreator`, hence addPluginV2) but
# not marked in the Python stubs: reported as deprecated too.
HAND_DEPRECATED = {name: "Deprecated in TensorRT 10's C++ headers (TRT_DEPRECATED); implement IPluginV3 instead."
                   for name in ("IPluginV2", "IPluginV2Ext", "IPluginV2DynamicExt", "IPluginV2DynamicExtBase",
                                "IPluginCreator", "IPluginV2Layer", "INetworkDefinition.add_plugin_v2")}

# One row per change: (the 8.6 API, what to use in TensorRT 10, patterns of the names it covers, the TensorRT 10
# names the replacement uses (checked against the stubs), a hand-written sentence where the change is semantic).
MIGRATIONS = [
    ("binding-index API: `num_bindings`, `get_binding_*`, `binding_is_input`, `set_binding_shape`, "
     "`get_strides`, `get_profile_shape`, `get_location`, ...",
     "tensor-name API: `num_io_tensors`, `get_tensor_name`, `get_tensor_mode`, `get_tensor_shape`, "
     "`get_tensor_dtype`, `get_tensor_location`, `get_tensor_profile_shape`, `set_input_shape`, "
     "`get_tensor_strides`",
     ["ICudaEngine.*binding*", "IExecutionContext.*binding*", "ICudaEngine.num_bindings", "ICudaEngine.get_location",
      "ICudaEngine.get_profile_shape*", "IExecutionContext.get_strides"],
     ["ICudaEngine.num_io_tensors", "ICudaEngine.get_tensor_name", "ICudaEngine.get_tensor_mode",
      "ICudaEngine.get_tensor_shape", "ICudaEngine.get_tensor_dtype", "ICudaEngine.get_tensor_location",
      "ICudaEngine.get_tensor_profile_shape", "ICudaEngine.get_tensor_profile_values",
      "IExecutionContext.set_input_shape", "IExecutionContext.get_tensor_shape",
      "IExecutionContext.get_tensor_strides"], None),
    ("`execute`, `execute_async`, `execute_async_v2` (buffers by binding index)",
     "`set_tensor_address(name, ptr)` for every I/O tensor, then `execute_async_v3(stream)`",
     ["IExecutionContext.execute", "IExecutionContext.execute_async", "IExecutionContext.execute_async_v2"],
     ["IExecutionContext.set_tensor_address", "IExecutionContext.execute_async_v3"], None),
    ("shape-tensor values: `context.set_shape_input`, `context.get_shape`",
     "bind the shape tensor's host buffer with `set_tensor_address` (its location is `TensorLocation.HOST`)",
     ["IExecutionContext.set_shape_input", "IExecutionContext.get_shape"],
     ["IExecutionContext.set_tensor_address", "ICudaEngine.get_tensor_location", "TensorLocation.HOST"], None),
    ("`builder.build_engine(network, config)`",
     "`builder.build_serialized_network(network, config)`, then `Runtime.deserialize_cuda_engine`",
     ["Builder.build_engine"], ["Builder.build_serialized_network", "Runtime.deserialize_cuda_engine"], None),
    ("implicit batch: `max_batch_size`, `NetworkDefinitionCreationFlag.EXPLICIT_BATCH`, "
     "`has_implicit_batch_dimension`",
     "nothing: every network is explicit batch (the flag is ignored: `create_network(0)` is the same)",
     ["*.max_batch_size", "NetworkDefinitionCreationFlag.EXPLICIT_BATCH", "*.has_implicit_batch_dimension",
      "ITensor.broadcast_across_batch"],
     ["Builder.create_network"], None),
    ("`config.max_workspace_size`", "`config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, bytes)`",
     ["IBuilderConfig.max_workspace_size"], ["IBuilderConfig.set_memory_pool_limit", "MemoryPoolType.WORKSPACE"],
     None),
    ("INT8 calibrators: `IInt8EntropyCalibrator2`, `IInt8MinMaxCalibrator`, `IInt8LegacyCalibrator`, "
     "`config.int8_calibrator`, `set_calibration_profile`, `ITensor.dynamic_range`",
     "explicit quantization: Quantize/Dequantize layers (`add_quantize`, `add_dequantize`) with their scales",
     ["IInt8*", "CalibrationAlgoType", "IBuilderConfig.int8_calibrator", "IBuilderConfig.*calibration_profile",
      "*dynamic_range*"],
     ["INetworkDefinition.add_quantize", "INetworkDefinition.add_dequantize"],
     "Calibrators still work in 10.13 but are deprecated since 10.1 (\"superseded by explicit quantization\"): "
     "quantize the model into Q/DQ nodes instead, e.g. with NVIDIA's Model Optimizer (`pip install "
     "nvidia-modelopt`, calibration in PyTorch then an ONNX export with Q/DQ) or by hand as in "
     "[QuantizeDequantizeLayer]({root}02-API/Layer/QuantizeDequantizeLayer/)."),
    ("weak typing: `BuilderFlag.FP16` / `INT8` / `BF16`, `OBEY_PRECISION_CONSTRAINTS`, "
     "`PREFER_PRECISION_CONSTRAINTS`, `layer.set_output_type`, `reset_precision`",
     "a strongly typed network: `create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))`, "
     "types given by the inputs, weights and `add_cast`",
     ["BuilderFlag.FP16", "BuilderFlag.INT8", "BuilderFlag.BF16", "BuilderFlag.*PRECISION_CONSTRAINTS",
      "ILayer.set_output_type", "ILayer.reset_output_type", "ILayer.output_type_is_set", "ILayer.reset_precision"],
     ["NetworkDefinitionCreationFlag.STRONGLY_TYPED", "INetworkDefinition.add_cast"],
     "The precision flags still build in 10.13 but are deprecated since 10.12 (\"superseded by strong "
     "typing\"): in a strongly typed network each tensor keeps the type the network gives it, so FP16 means FP16 "
     "inputs or weights or an `add_cast`, and INT8 means Q/DQ layers."),
    ("`BuilderFlag.STRICT_TYPES`", "`BuilderFlag.OBEY_PRECISION_CONSTRAINTS` (itself deprecated in 10.12: "
     "prefer a strongly typed network)", ["BuilderFlag.STRICT_TYPES"],
     ["BuilderFlag.OBEY_PRECISION_CONSTRAINTS", "NetworkDefinitionCreationFlag.STRONGLY_TYPED"], None),
    ("`IAlgorithmSelector` and the `IAlgorithm*` classes, `config.algorithm_selector`",
     "the editable timing cache: `BuilderFlag.EDITABLE_TIMING_CACHE` and `ITimingCache.update`",
     ["IAlgorithm*", "IBuilderConfig.algorithm_selector", "BuilderFlag.REJECT_EMPTY_ALGORITHMS"],
     ["BuilderFlag.EDITABLE_TIMING_CACHE", "ITimingCache.update", "ITimingCache.query", "ITimingCache.queryKeys"],
     "The algorithm selector still works in 10.13 but is deprecated since 10.8 (\"use editable mode in "
     "ITimingCache instead\"): build with `BuilderFlag.EDITABLE_TIMING_CACHE`, then read the cache's entries "
     "(`ITimingCache.queryKeys`, `query`) and pin the tactic you want with `ITimingCache.update`."),
    ("`network.add_fully_connected`, `IFullyConnectedLayer`",
     "`add_matrix_multiply` with the weights from `add_constant` (and `add_elementwise` for the bias)",
     ["INetworkDefinition.add_fully_connected", "IFullyConnectedLayer", "LayerType.FULLY_CONNECTED"],
     ["INetworkDefinition.add_matrix_multiply", "INetworkDefinition.add_constant",
      "INetworkDefinition.add_elementwise"], None),
    ("`network.add_rnn_v2`, `IRNNv2Layer`, `RNNOperation` / `RNNDirection` / `RNNInputMode` / `RNNGateType`",
     "a loop: `add_loop` with its recurrence, iterator and output layers, the cell written with "
     "`add_matrix_multiply` and activations",
     ["INetworkDefinition.add_rnn_v2", "IRNNv2Layer", "RNN*", "LayerType.RNN_V2"],
     ["INetworkDefinition.add_loop", "ILoop.add_recurrence", "ILoop.add_iterator", "ILoop.add_loop_output"],
     "TensorRT 10 has no RNN layer: the cell is written out inside an `ILoop` (see "
     "[LoopLayer]({root}02-API/Layer/LoopLayer/))."),
    ("2-D layers and members: `add_convolution`, `add_deconvolution`, `add_pooling`, `add_padding`; "
     "`stride`, `padding`, `kernel_size`, `dilation`, `window_size`, `pre_padding`, `post_padding`",
     "the N-d forms: `add_convolution_nd`, `add_deconvolution_nd`, `add_pooling_nd`, `add_padding_nd`; "
     "`stride_nd`, `padding_nd`, `kernel_size_nd`, `dilation_nd`, `window_size_nd`, `pre_padding_nd`, "
     "`post_padding_nd`",
     ["INetworkDefinition.add_convolution", "INetworkDefinition.add_deconvolution", "INetworkDefinition.add_pooling",
      "INetworkDefinition.add_padding", "IConvolutionLayer.*", "IDeconvolutionLayer.*", "IPoolingLayer.*",
      "IPaddingLayer.*"],
     ["INetworkDefinition.add_convolution_nd", "INetworkDefinition.add_deconvolution_nd",
      "INetworkDefinition.add_pooling_nd", "INetworkDefinition.add_padding_nd", "IConvolutionLayer.stride_nd",
      "IConvolutionLayer.padding_nd", "IConvolutionLayer.kernel_size_nd", "IConvolutionLayer.dilation_nd",
      "IPoolingLayer.window_size_nd", "IPaddingLayer.pre_padding_nd", "IPaddingLayer.post_padding_nd"], None),
    ("preview features `FASTER_DYNAMIC_SHAPES_0805`, `DISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805`, "
     "`PROFILE_SHARING_0806`", "nothing: the 0805 ones are gone, `PROFILE_SHARING_0806` is on by default "
     "(turning it off is deprecated)", ["PreviewFeature.*"], ["PreviewFeature.PROFILE_SHARING_0806"], None),
    ("`trt.ResizeMode`, `trt.SliceMode`", "`trt.InterpolationMode`, `trt.SampleMode`",
     ["ResizeMode", "SliceMode"], ["InterpolationMode", "SampleMode"], None),
    ("`EngineCapability.DEFAULT` / `SAFE_GPU` / `SAFE_DLA`", "`EngineCapability.STANDARD` / `SAFETY` / "
     "`DLA_STANDALONE`", ["EngineCapability.*"],
     ["EngineCapability.STANDARD", "EngineCapability.SAFETY", "EngineCapability.DLA_STANDALONE"], None),
    ("`ProfilingVerbosity.DEFAULT` / `VERBOSE`", "`ProfilingVerbosity.LAYER_NAMES_ONLY` / `DETAILED`",
     ["ProfilingVerbosity.*"], ["ProfilingVerbosity.LAYER_NAMES_ONLY", "ProfilingVerbosity.DETAILED"], None),
    ("`SampleMode.DEFAULT`", "`SampleMode.STRICT_BOUNDS`", ["SampleMode.DEFAULT"], ["SampleMode.STRICT_BOUNDS"],
     None),
    ("GPU allocator callbacks `allocate`, `deallocate`, `free`",
     "`allocate_async(size, alignment, flags, stream)` and `deallocate_async(memory, stream)`",
     ["IGpuAllocator.*"], ["IGpuAllocator.allocate_async", "IGpuAllocator.deallocate_async"], None),
    ("`TacticSource.CUBLAS` / `CUBLAS_LT` / `CUDNN`",
     "leave them out: they are off by default in TensorRT 10, whose own `EDGE_MASK_CONVOLUTIONS` and "
     "`JIT_CONVOLUTIONS` are on", ["TacticSource.*"],
     ["TacticSource.EDGE_MASK_CONVOLUTIONS", "TacticSource.JIT_CONVOLUTIONS"], None),
    ("`tensorrt_version` of plugin creators and output allocators", "`interface_info` (IVersionedInterface)",
     ["*.tensorrt_version"], ["IVersionedInterface.interface_info"], None),
    ("IPluginV2 plugins: `IPluginV2DynamicExt`, `IPluginCreator`, `add_plugin_v2`, "
     "`registry.plugin_creator_list`",
     "IPluginV3: `IPluginV3`, `IPluginCreatorV3One`, `add_plugin_v3`; `registry.all_creators`",
     ["IPluginV2*", "IPluginCreator", "INetworkDefinition.add_plugin_v2", "IPluginRegistry.plugin_creator_list"],
     ["IPluginV3", "IPluginCreatorV3One", "INetworkDefinition.add_plugin_v3", "IPluginRegistry.all_creators"],
     "The IPluginV2 classes are still in TensorRT 10.13's Python API, but NVIDIA's C++ headers deprecate them "
     "since 10.0 (\"Please implement IPluginV3 instead\"): new plugins implement IPluginV3 (or use "
     "`tensorrt.plugin`)."),
]

MIGRATIONS = [tuple(tuple(x) if isinstance(x, list) else x for x in row) for row in MIGRATIONS]   # hashable


def load_api(path=API_FILE):
    """{"version", "classes": {name: {"bases", "members": {m: (value, note)}, "note"}}, "module": {name: note},
    "removed": set of 8.6 "Class" / "Class.member" / function names}."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    api = {"version": lines[0], "classes": {}, "module": {}, "removed": set()}
    for line in lines[1:]:
        entry, _, note = line.partition(" ! ")
        entry, _, value = entry.partition(" -> ")
        if entry.startswith("- "):
            api["removed"].add(entry[2:])
        elif entry.startswith("class "):
            m = re.match(r"class ([\w.]+)(?:\((.*)\))?$", entry)
            bases = [b.strip() for b in (m.group(2) or "").split(",") if b.strip()]
            api["classes"][m.group(1)] = {"bases": bases, "members": {}, "note": note or None}
        elif entry.startswith("  "):
            owner, member = entry.strip().rsplit(".", 1)
            api["classes"][owner]["members"][member] = (value or None, note or None)
        else:
            api["module"][entry] = note or None
    for name, note in HAND_DEPRECATED.items():
        owner, _, member = name.partition(".")
        if member:
            value, old = api["classes"][owner]["members"][member]
            api["classes"][owner]["members"][member] = (value, old or note)
        else:
            api["classes"][owner]["note"] = api["classes"][owner]["note"] or note
    api["removed_members"] = {}
    for name in api["removed"]:
        if "." in name:
            owner, member = name.rsplit(".", 1)
            api["removed_members"].setdefault(member, []).append(owner)
    api["holders"] = {}   # member name -> 10.13 classes defining it
    for cls, info in api["classes"].items():
        for member in info["members"]:
            api["holders"].setdefault(member, []).append(cls)
    return api


def lookup(api, cls, member):
    """(defining class, value class, note) of cls.member in TensorRT 10 (bases followed), or None."""
    info = api["classes"].get(cls)
    if info is None:
        return None
    if member in info["members"]:
        return (cls,) + info["members"][member]
    for base in info["bases"]:
        found = lookup(api, base, member)
        if found:
            return found
    return None


class Finding:
    def __init__(self, line, used, keys, status, note=None):
        self.line, self.used, self.keys, self.status, self.note = line, used, sorted(keys), status, note

    def migration(self):
        for row in MIGRATIONS:
            if any(fnmatch.fnmatchcase(k, p) for k in self.keys for p in row[2]):
                return row
        return None

    def __repr__(self):
        return f"Finding({self.line}, {self.used!r}, {self.keys}, {self.status!r})"


def trt_aliases(tree):
    names = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
             if a.name == TRT_MODULE}
    return names


def dotted(node):
    """'a.b.c' for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id] + parts[::-1])
    return None


def scopes(tree):
    """(scope node, the nodes that belong to it) for the module and every function, lambda and method."""
    found = []

    def visit(scope):
        nodes, stack = [], list(ast.iter_child_nodes(scope))
        while stack:
            node = stack.pop()
            nodes.append(node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(node)
            else:
                stack.extend(ast.iter_child_nodes(node))
        found.append((scope, nodes))

    visit(tree)
    return found


def shown(node):
    """Short source text of an expression, for the report."""
    return dotted(node) or ("(...)" if not isinstance(node, ast.Call) else f"{dotted(node.func) or '...'}(...)")


class Checker:
    def __init__(self, api, tree):
        self.api, self.tree, self.aliases = api, tree, trt_aliases(tree)
        self.local_classes = {n.name: self.trt_bases(n) for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        self.scopes = scopes(tree)
        self.module_env = None
        self.envs = {}   # id(scope) -> ({name: set of classes}, set of names typed only by USUAL_NAMES)
        for scope, nodes in reversed(self.scopes):   # the module (last) first: functions fall back to it
            self.envs[id(scope)] = self.infer_types(scope, nodes)
            if scope is tree:
                self.module_env = self.envs[id(scope)]

    def trt_bases(self, classdef):
        bases = [dotted(b) or "" for b in classdef.bases]
        return [b.split(".", 1)[1] for b in bases if b.split(".")[0] in self.aliases and "." in b]

    def expr_type(self, node, env):
        """Set of TensorRT 10 classes an expression evaluates to ({"<local>"} for the script's own classes)."""
        if isinstance(node, ast.Call):
            name = dotted(node.func) or ""
            head, _, rest = name.partition(".")
            if head in self.aliases and rest in self.api["classes"]:
                return {rest}
            if name in self.local_classes:
                return set(self.local_classes[name]) or {"<local>"}
            node = node.func   # a method call: its return class, as for a property below
        if isinstance(node, ast.Attribute):
            found = set()
            for cls in self.expr_type(node.value, env):
                hit = lookup(self.api, cls, node.attr)
                if hit and hit[1]:
                    found.add(hit[1])
            return found
        if isinstance(node, ast.Name):
            types = env[0].get(node.id)
            if types is None and self.module_env is not None and env is not self.module_env:
                types = self.module_env[0].get(node.id)
            return types or set()
        return set()

    def infer_types(self, scope, nodes):
        pairs, local = [], set()
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = scope.args
            local = {a.arg for a in args.args + args.kwonlyargs + getattr(args, "posonlyargs", [])}
        for node in nodes:
            if isinstance(node, ast.Assign):
                pairs += [(t.id, node.value) for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and isinstance(node.target, ast.Name) \
                    and node.value is not None:
                pairs.append((node.target.id, node.value))
            elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
                pairs.append((node.optional_vars.id, node.context_expr))
        env = ({name: set() for name in local | {p[0] for p in pairs}}, set())
        for name in local - {p[0] for p in pairs}:
            if name in USUAL_NAMES:   # a parameter called `network`, `config`, ...: a guess
                env[0][name] = {USUAL_NAMES[name]}
                env[1].add(name)
        for _ in range(4):   # follow chains builder -> network -> layer -> tensor
            for name, value in pairs:
                env[0][name].update(self.expr_type(value, env))
        return env

    def check(self):
        findings = []
        for scope, nodes in self.scopes:
            env = self.envs[id(scope)]
            inner = {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}   # prefixes of longer chains
            for node in nodes:
                if isinstance(node, ast.Attribute):
                    name = dotted(node)
                    if name and name.split(".")[0] in self.aliases:
                        if id(node) not in inner:
                            findings += self.check_trt_chain(node, name)
                    else:
                        findings += self.check_member(node, env)
                elif isinstance(node, ast.ClassDef):
                    findings += self.check_overrides(node)
        unique = {}
        for f in findings:
            unique.setdefault((f.line, f.used, f.status), f)
        return sorted(unique.values(), key=lambda f: (f.line, f.used))

    def check_trt_chain(self, node, name):
        """trt.A, trt.A.B, trt.A.B.C: looked up exactly."""
        parts = name.split(".")[1:]
        parts = parts[:next((i for i, p in enumerate(parts) if p.startswith("__")), len(parts))]
        if not parts:
            return []
        used = "trt." + ".".join(parts)
        api = self.api
        if parts[0] not in api["classes"]:
            if parts[0] in api["module"]:
                note = api["module"][parts[0]]
                return [Finding(node.lineno, used, [parts[0]], "deprecated", note)] if note else []
            status = "removed" if parts[0] in api["removed"] else "unknown"
            return [Finding(node.lineno, used, [parts[0]], status)]
        cls = parts[0]
        if api["classes"][cls]["note"]:
            return [Finding(node.lineno, used, [cls], "deprecated", api["classes"][cls]["note"])]
        for member in parts[1:]:
            if f"{cls}.{member}" in api["classes"]:   # a nested class, e.g. ILogger.Severity
                cls = f"{cls}.{member}"
                continue
            hit = lookup(api, cls, member)
            if hit is None:
                status = "removed" if f"{cls}.{member}" in api["removed"] else "unknown"
                return [Finding(node.lineno, used, [f"{cls}.{member}"], status)]
            if hit[2]:
                return [Finding(node.lineno, used, [f"{hit[0]}.{member}"], "deprecated", hit[2])]
            if not hit[1] or hit[1] not in api["classes"]:
                break
            cls = hit[1]
        return []

    def check_member(self, node, env):
        """obj.member: in obj's class where it is known, else by the member name alone."""
        api, member = self.api, node.attr
        if member.startswith("__"):
            return []
        used = f"{shown(node.value)}.{member}"
        types = self.expr_type(node.value, env)
        if "<local>" in types:
            return []
        trt_types = [t for t in types if t in api["classes"]]
        if trt_types:
            hits = [lookup(api, t, member) for t in trt_types]
            if any(h and not h[2] for h in hits):
                return []
            if all(hits):
                return [Finding(node.lineno, used, {f"{h[0]}.{member}" for h in hits}, "deprecated", hits[0][2])]
            gone = [f"{t}.{member}" for t in trt_types if f"{t}.{member}" in api["removed"]]
            if gone and not (isinstance(node.value, ast.Name) and node.value.id in env[1]):
                return [Finding(node.lineno, used, gone, "removed")]
        holders = api["holders"].get(member, [])
        if not holders and member in api["removed_members"]:
            return [Finding(node.lineno, used, [f"{c}.{member}" for c in api["removed_members"][member]], "removed")]
        notes = [api["classes"][c]["members"][member][1] for c in holders]
        if holders and all(notes):
            return [Finding(node.lineno, used, [f"{c}.{member}" for c in holders], "deprecated", notes[0])]
        return []

    def check_overrides(self, classdef):
        """Methods a subclass of a TensorRT interface defines, looked up in that interface."""
        findings = []
        for base in self.local_classes.get(classdef.name, []):
            for item in classdef.body:
                if not isinstance(item, ast.FunctionDef) or item.name.startswith("__"):
                    continue
                key = f"{base}.{item.name}"
                hit = lookup(self.api, base, item.name)
                if hit is None and key in self.api["removed"]:
                    findings.append(Finding(item.lineno, f"def {item.name} ({base})", [key], "removed"))
                elif hit and hit[2]:
                    findings.append(Finding(item.lineno, f"def {item.name} ({base})", [f"{hit[0]}.{item.name}"],
                                            "deprecated", hit[2]))
        return findings


def check_source(source, api=None, filename="<script>"):
    """Findings for one script's text: every TensorRT name that TensorRT 10 removed, deprecates or lacks."""
    api = api or load_api()
    tree = ast.parse(source, filename=filename)
    if not trt_aliases(tree):
        return []
    return Checker(api, tree).check()


def check_file(path, api=None):
    return check_source(Path(path).read_text(encoding="utf-8"), api, str(path))


def scripts_of(target):
    target = Path(target)
    return [target] if target.is_file() else sorted(p for p in target.rglob("*.py") if "__pycache__" not in p.parts)


STATUS_TEXT = {"removed": "removed in TensorRT 10", "deprecated": "deprecated in TensorRT 10 (still there in 10.13)",
               "unknown": "not in TensorRT 10.13 (nor in 8.6.0's listing)"}


def report(paths, api=None):
    api = api or load_api()
    lines = []
    for path in paths:
        for script in scripts_of(path):
            try:
                shown = script.resolve().relative_to(ROOT)
            except ValueError:
                shown = script
            try:
                findings = check_file(script, api)
            except (SyntaxError, UnicodeDecodeError) as error:
                lines.append(f"{shown}: not checked, Python 3 cannot parse it ({error})")
                continue
            if not findings:
                lines.append(f"{shown}: only names TensorRT 10.13 keeps (none deprecated)")
                continue
            lines.append(f"{shown}:")
            for f in findings:
                row = f.migration()
                text = f"  line {f.line}: {f.used} ({' / '.join(f.keys)}): {STATUS_TEXT[f.status]}"
                text += f" [{f.note}]" if f.note else ""
                text += f" -> {row[1]}" if row else ""
                lines.append(text)
    return "\n".join(lines)


# ---- the README notes and the migration table ----

def example_findings(example, api):
    """{script name: findings} for the Python scripts of one example folder."""
    return {p.name: check_file(p, api) for p in sorted((ROOT / example).glob("*.py"))}


def group_findings(per_script):
    """{migration row: ({status: 8.6 names used}, scripts)}, in MIGRATIONS order, then one row per other name."""
    groups = {}
    for script, findings in per_script.items():
        for f in findings:
            row = f.migration() or (f"`{' / '.join(f.keys)}`", f"see NVIDIA's note: \"{f.note.rstrip('.;')}\""
                                    if f.note else "nothing: remove it, TensorRT 10 has no replacement", (), (), None)
            names, scripts = groups.setdefault(row, ({}, set()))
            name = f.used.split()[1] if f.used.startswith("def ") else \
                f.used[4:] if f.used.startswith("trt.") and "(" not in f.used else f.used.rsplit(".", 1)[-1]
            names.setdefault(f.status, set()).add(name)
            scripts.add(script)
    order = {row: i for i, row in enumerate(MIGRATIONS)}
    return dict(sorted(groups.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0][0])))


def note_for(example, api=None):
    """The README section for one example folder (markers included)."""
    api = api or load_api()
    per_script = example_findings(example, api)
    stubs, trt = re.search(r"tensorrt-stubs (\S+) \(TensorRT (\d+\.\d+)", api["version"]).groups()
    lines = [START, "## TensorRT 10", "",
             f"What changes on TensorRT {trt}, checked by name against its Python API (tensorrt-stubs {stubs}) by "
             f"`python3 tests/trt10_check.py {Path(example).as_posix()}`, not by running it."]
    clean = [s for s, f in per_script.items() if not f]
    groups = group_findings(per_script)
    if per_script and not groups:
        lines.append(f"Every script ({', '.join(f'`{s}`' for s in clean)}) uses only names that TensorRT {trt} "
                     "keeps, none deprecated: it should run unchanged.")
    elif clean:
        lines.append(f"Only names that TensorRT {trt} keeps, none deprecated: {', '.join(f'`{s}`' for s in clean)}.")
    if groups:
        lines.append("")
    for row, (names, scripts) in groups.items():
        state = "; ".join(f"{status} in TensorRT 10: {', '.join(f'`{n}`' for n in sorted(names[status]))}"
                          for status in ("removed", "deprecated", "unknown") if status in names)
        sentence = (" " + row[4].replace("{root}", "../" * len(Path(example).parts))) if row[4] else ""
        where = "every script" if len(scripts) > 1 and scripts == set(per_script) else ", ".join(sorted(scripts))
        lines.append(f"- {state} ({where}) → {row[1]}.{sentence}")
    cpp = sorted(p.name for p in (ROOT / example).glob("*.cpp"))
    if cpp:
        lines += ["", f"{', '.join(f'`{c}`' for c in cpp)}: not checked (no package ships TensorRT 10's C++ headers "
                  "to check against); its calls are the C++ names of the Python ones above, and TensorRT 10 "
                  "deprecates and removes both together."]
    if not per_script and not cpp:
        lines.append("No script to check.")
    return "\n".join(lines + [END])


def with_note(text, note):
    """README text with `note` as its last section, replacing the one between the markers if there is one."""
    if START in text and END in text:
        before, after = text[:text.index(START)], text[text.index(END) + len(END):]
        return before.rstrip("\n") + "\n\n" + note + ("\n\n" + after.strip("\n") if after.strip() else "") + "\n"
    return text.rstrip("\n") + "\n\n" + note + "\n"


def write_note(example, api=None):
    """Put the note at the end of the example's README.md (replacing an earlier one). True when it changed."""
    readme = ROOT / example / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = with_note(text, note_for(example, api))
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


def readme_note(example):
    """The section now in the example's README.md (markers included), or None."""
    text = (ROOT / example / "README.md").read_text(encoding="utf-8")
    if START not in text or END not in text:
        return None
    return text[text.index(START):text.index(END) + len(END)]


def migration_table(api=None):
    """Markdown: one row per change the examples meet (then the MIGRATIONS rows no example uses)."""
    api = api or load_api()
    users = {}   # row -> {example: the 8.6 names it uses}
    for example in find_examples():
        for row, (names, _) in group_findings(example_findings(example, api)).items():
            users.setdefault(row, {})[example.as_posix()] = set().union(*names.values())
    order = {row: i for i, row in enumerate(MIGRATIONS)}
    rows = sorted(set(users) | set(MIGRATIONS), key=lambda r: (order.get(r, len(order)), r[0]))
    lines = ["| TensorRT 8.6 | TensorRT 10.x | examples using the 8.6 API |", "|---|---|---|"]
    for row in rows:
        used = users.get(row, {})
        common = set.intersection(*used.values()) if len(used) > 15 else set()   # e.g. the run block's flag
        links = ", ".join(f"[{e.split('/')[-1]}]({e}/)" for e, names in used.items() if names - common) or "none"
        if common:
            links = f"{len(used)} examples use {', '.join(f'`{n}`' for n in sorted(common))}; more in: {links}"
        lines.append(f"| {row[0]} | {row[1]} | {links} |")
    return "\n".join(lines)


TABLE_START, TABLE_END = "<!-- trt10-migration:start -->", "<!-- trt10-migration:end -->"


def readme_table():
    """The migration table now in the root README (between its markers), or None."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    if TABLE_START not in text or TABLE_END not in text:
        return None
    return text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip("\n")


def write_migration_table(api=None):
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(TABLE_START, 1)
    new = f"{head}{TABLE_START}\n{migration_table(api)}\n{TABLE_END}{rest.split(TABLE_END, 1)[1]}"
    if new != text:
        path.write_text(new, encoding="utf-8")
        return True
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", help="scripts or folders to check")
    parser.add_argument("--write-notes", action="store_true",
                        help="write the TensorRT 10 note into every example and the migration table into README.md")
    parser.add_argument("--migration-table", action="store_true", help="print the 8.6 -> 10.x table (markdown)")
    args = parser.parse_args(argv)
    api = load_api()
    if args.write_notes:
        changed = [e.as_posix() for e in find_examples() if write_note(e, api)]
        print(f"{len(changed)} README note(s) written" + (": " + ", ".join(changed) if changed else ""))
        if write_migration_table(api):
            print("migration table written into README.md")
    if args.migration_table:
        print(migration_table(api))
    if args.paths:
        print(report(args.paths, api))
    if not (args.paths or args.write_notes or args.migration_table):
        parser.print_help()


if __name__ == "__main__":
    main()
