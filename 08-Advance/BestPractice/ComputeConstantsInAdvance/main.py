#!/usr/bin/env python3
"""08-Advance/BestPractice/ComputeConstantsInAdvance: a sinusoidal position table added to the input, computed
inside the network from constants (as an exported model without constant folding holds it) or computed in numpy
ahead of time and given as one constant; checked against numpy and timed side by side.

x [B, L, D] = [64, 512, 512] float32, pe[l, 2i] = sin(l * f_i), pe[l, 2i+1] = cos(l * f_i), f_i = 10000^(-2i/D),
y = x + pe.
- in_network: positions [L, 1] and frequencies [1, D/2] are constants; MatMul-free: angle = positions * frequencies,
  sin and cos (IUnaryLayer), interleaved by concatenating [L, D/2, 1] pairs on the last axis and reshaping to
  [L, D]; then y = x + pe;
- in_advance: pe is computed in numpy before the build and added as one constant [1, L, D].
The subgraph of the first variant depends on constants only: TensorRT may fold it at build time itself, and the
inspector's layer list and the timing table (median and p90 of RUNS runs, CUDA events, one process) show whether
it did. (polygraphy surgeon sanitize --fold-constants or onnx-graphsurgeon's fold_constants() do the same on an
ONNX model: see ../OnnxWorkflow.)
"""
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

# sin / cos of angles up to 511 rad: the angle is rounded to float32 in both (1 ulp of 511 is 3e-5); a GPU kernel
# may use the fast sin / cos intrinsics, whose error grows with the angle (about |angle| * 2^-22, 1.2e-4 at 511);
# a wrong table would be off by O(1)
TOLERANCE = {"rtol": 1e-5, "atol": 5e-4}
FP16 = False
B, L, D = 64, 512, 512
SETTING = f"x [{B}, {L}, {D}] float32"
SAMPLE = (slice(None, None, 16), slice(None, None, 16), slice(None, None, 16))  # y[4, 32, 32] saved
RUNS, WARMUP = 200, 20
VARIANTS = ("in_network", "in_advance")


def angles():
    """positions [L, 1] and frequencies [1, D/2], float32; their product is the angle table (in float32)."""
    positions = np.arange(L, dtype=np.float32).reshape(L, 1)
    frequencies = (10000.0 ** (-np.arange(0, D, 2, dtype=np.float64) / D)).astype(np.float32).reshape(1, D // 2)
    return positions, frequencies


def position_table():
    """pe [L, D] in float64 from the float32 angles: even columns sin, odd columns cos."""
    positions, frequencies = angles()
    angle = (positions * frequencies).astype(np.float64)  # the float32 product, as the network computes it
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(L, D)


def add_layers(network, variant, inputs):
    x = network.add_input("x", trt.float32, (B, L, D))
    if variant == "in_network":
        positions, frequencies = angles()
        keep = [positions, frequencies]
        p = network.add_constant(positions.shape, trt.Weights(positions)).get_output(0)
        f = network.add_constant(frequencies.shape, trt.Weights(frequencies)).get_output(0)
        angle = network.add_elementwise(p, f, trt.ElementWiseOperation.PROD).get_output(0)  # [L, D/2]
        pair = []
        for operation in (trt.UnaryOperation.SIN, trt.UnaryOperation.COS):
            value = network.add_unary(angle, operation).get_output(0)
            column = network.add_shuffle(value)
            column.reshape_dims = (L, D // 2, 1)
            pair.append(column.get_output(0))
        interleave = network.add_concatenation(pair)
        interleave.axis = 2  # [L, D/2, 2]: sin, cos side by side
        table = network.add_shuffle(interleave.get_output(0))
        table.reshape_dims = (1, L, D)
        pe = table.get_output(0)
    else:  # in_advance
        keep = position_table().astype(np.float32).reshape(1, L, D)
        pe = network.add_constant(keep.shape, trt.Weights(keep)).get_output(0)
    y = network.add_elementwise(x, pe, trt.ElementWiseOperation.SUM).get_output(0)
    y.name = "y"
    network.mark_output(y)
    return {"x": inputs["x"]}, keep


def sample(y, variant):
    return y[SAMPLE]


def make_inputs():
    return {"x": np.random.default_rng(9).standard_normal((B, L, D)).astype(np.float32)}


def reference(inputs):
    y = (inputs["x"].astype(np.float64) + position_table()[None])[SAMPLE].astype(np.float32)
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
