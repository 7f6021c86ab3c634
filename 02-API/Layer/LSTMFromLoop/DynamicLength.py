#!/usr/bin/env python3
"""LSTMFromLoop / DynamicLength: the LSTM of SimpleExample for a sequence length known only at run time.

x is [N, -1, E]; the optimization profile allows lengths 1 to 8 (opt 4). The trip count and the CONCATENATE
length must be 0-D INT32 shape tensors defined before the loop: Shape(x) -> Slice [1] -> Shuffle to 0-D gives
the run-time length S. One engine runs x[:, :3] and then x[:, :6] (set_input_shape before each run); outputs y
[N, S, H], h_n and c_n [N, H] per run (prefix length3/, length6/). Initial states are zeros. TF32 is cleared."""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
REFERENCE_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # torch's LSTM kernels differ between versions and CPUs
N, E, H = 2, 4, 3
LENGTHS = (3, 6)  # the sequence lengths of the two runs


def build_network(builder, network, config, inputs):
    config.clear_flag(trt.BuilderFlag.TF32)  # FP32 matrix products
    x = network.add_input("x", trt.float32, (N, -1, E))
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (N, 1, E), (N, 4, E), (N, 8, E))  # min / opt / max shape
    config.add_optimization_profile(profile)
    shape = network.add_shape(x).get_output(0)  # INT32 [3]: (N, S, E)
    length = network.add_shuffle(network.add_slice(shape, (1,), (1,), (1,)).get_output(0))  # [1]: (S,)
    length.reshape_dims = ()  # 0-D: what a trip limit and a concatenation length take
    length = length.get_output(0)
    weights, keep = lstm_weights(E, H, bidirectional=False), []
    loop = network.add_loop()
    loop.add_trip_limit(length, trt.TripLimit.COUNT)
    x_t = loop.add_iterator(x, 1, False).get_output(0)  # [N, E]
    zeros = np.zeros((N, H), dtype=np.float32)  # initial h and c (torch's default)
    keep.append(zeros)
    h = loop.add_recurrence(network.add_constant((N, H), zeros).get_output(0))
    c = loop.add_recurrence(network.add_constant((N, H), zeros).get_output(0))
    h_next, c_next = add_lstm_cell(network, x_t, h.get_output(0), c.get_output(0), weights, "l0", keep)
    h.set_input(1, h_next)
    c.set_input(1, c_next)
    y = loop.add_loop_output(h_next, trt.LoopOutput.CONCATENATE, 1)
    y.set_input(1, length)
    outputs = {"y": y, "h_n": loop.add_loop_output(h.get_output(0), trt.LoopOutput.LAST_VALUE),
               "c_n": loop.add_loop_output(c.get_output(0), trt.LoopOutput.LAST_VALUE)}
    for name, layer in outputs.items():
        print(f"{name}: {layer.kind}, shape {layer.get_output(0).shape}")
        layer.get_output(0).name = name
        network.mark_output(layer.get_output(0))
    return keep


def run_example(inputs):
    engine = build_engine(build_network, inputs)
    outputs = {}
    for length in LENGTHS:  # one engine, two sequence lengths
        print(f"run with x[:, :{length}]")
        result = run_engine(engine, {"x": np.ascontiguousarray(inputs["x"][:, :length])})
        outputs.update({f"length{length}/{name}": value for name, value in result.items()})
    return outputs


def make_inputs():
    rng = np.random.default_rng(31193)
    return {"x": rng.standard_normal((N, max(LENGTHS), E)).astype(np.float32)}


def reference(inputs):
    result = {}
    for length in LENGTHS:
        y, h_n, c_n = torch_lstm(inputs["x"][:, :length], lstm_weights(E, H, bidirectional=False), False)
        result.update({f"length{length}/y": y, f"length{length}/h_n": h_n[0], f"length{length}/c_n": c_n[0]})
    return result


# ==== numpy helpers of this folder: identical in every script of the folder that has them ====
# Here: torch.nn.LSTM's weights, one LSTM step built from TensorRT layers, and torch.nn.LSTM as the reference.


def lstm_weights(input_size, hidden, bidirectional, seed=97):
    """Seeded weights with torch.nn.LSTM's names and layout: weight_ih_l0 [4H, E], weight_hh_l0 [4H, H], bias_ih_l0
    and bias_hh_l0 [4H] (row blocks: gates i, f, g, o), and the same with _reverse for the backward direction."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(hidden)  # torch's default init range
    weights = {}
    for suffix in ("l0", "l0_reverse")[:2 if bidirectional else 1]:
        weights["weight_ih_" + suffix] = rng.uniform(-bound, bound, (4 * hidden, input_size))
        weights["weight_hh_" + suffix] = rng.uniform(-bound, bound, (4 * hidden, hidden))
        weights["bias_ih_" + suffix] = rng.uniform(-bound, bound, 4 * hidden)
        weights["bias_hh_" + suffix] = rng.uniform(-bound, bound, 4 * hidden)
    return {name: value.astype(np.float32) for name, value in weights.items()}


def add_lstm_cell(network, x_t, h, c, weights, suffix, keep):
    """One LSTM step from TensorRT layers with torch's equations, for x_t [N, E] and h, c [N, H]:
        gate_k = act_k(x_t @ W_ih[k].T + h @ W_hh[k].T + b_ih[k] + b_hh[k]),  k = i, f, g, o
        c' = f * c + i * g,  h' = o * tanh(c')        (act: sigmoid for i, f, o; tanh for g)
    Returns (h', c'); the weight arrays go into `keep` (they must live until the build ends)."""
    hidden = weights["weight_hh_" + suffix].shape[1]
    none, op = trt.MatrixOperation.NONE, trt.ElementWiseOperation

    def constant(array):
        keep.append(np.ascontiguousarray(array, dtype=np.float32))
        return network.add_constant(keep[-1].shape, trt.Weights(keep[-1])).get_output(0)

    def elementwise(a, b, operation):
        return network.add_elementwise(a, b, operation).get_output(0)

    gates = []
    for k, activation in enumerate((trt.ActivationType.SIGMOID, trt.ActivationType.SIGMOID,
                                    trt.ActivationType.TANH, trt.ActivationType.SIGMOID)):
        rows = slice(k * hidden, (k + 1) * hidden)
        w = constant(weights["weight_ih_" + suffix][rows].T)  # [E, H]
        r = constant(weights["weight_hh_" + suffix][rows].T)  # [H, H]
        b = constant((weights["bias_ih_" + suffix][rows] + weights["bias_hh_" + suffix][rows]).reshape(1, hidden))
        xw = network.add_matrix_multiply(x_t, none, w, none).get_output(0)
        hr = network.add_matrix_multiply(h, none, r, none).get_output(0)
        total = elementwise(elementwise(xw, hr, op.SUM), b, op.SUM)
        gates.append(network.add_activation(total, activation).get_output(0))
    i, f, g, o = gates
    c_next = elementwise(elementwise(f, c, op.PROD), elementwise(i, g, op.PROD), op.SUM)
    h_next = elementwise(o, network.add_activation(c_next, trt.ActivationType.TANH).get_output(0), op.PROD)
    return h_next, c_next


def torch_lstm(x, weights, bidirectional, h0=None, c0=None):
    """torch.nn.LSTM (batch_first) on the CPU with these weights: y [N, S, D*H], h_n and c_n [D, N, H]."""
    import torch  # only the reference needs torch

    lstm = torch.nn.LSTM(x.shape[2], weights["weight_hh_l0"].shape[1], batch_first=True,
                         bidirectional=bidirectional)
    with torch.no_grad():
        for name, parameter in lstm.named_parameters():
            parameter.copy_(torch.from_numpy(weights[name]))
        state = None if h0 is None else (torch.from_numpy(h0), torch.from_numpy(c0))
        y, (h_n, c_n) = lstm(torch.from_numpy(np.ascontiguousarray(x)), state)
    return y.numpy(), h_n.numpy(), c_n.numpy()


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
