#!/usr/bin/env python3
"""GridSampleLayer / InterpolationMode: NEAREST, LINEAR (default) and CUBIC on the same input and grid.

NEAREST takes the closest pixel, LINEAR blends the 2x2 neighbours (bilinear), CUBIC the 4x4 neighbours (bicubic,
coefficient A = -0.75, as ONNX GridSample "cubic" and torch grid_sample "bicubic"). sample_mode FILL, align_corners
False. The reference is that documented bicubic. TensorRT 8.6.0 (seen on an H100) deviates in one tap: the top-left
tap of the 4x4 neighbourhood, weight w_y[0] * w_x[0], reads the pixel (y0, x0) (the tap [1][1]) instead of
(y0 - 1, x0 - 1). CUBIC's output is therefore a KNOWN_DEVIATION: its check passes while TensorRT differs from the
documented result; run_example() prints how far it is from the documented result and from that one-tap model.
"""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
KNOWN_DEVIATIONS = {"CUBIC/outputT0": "TensorRT 8.6.0's CUBIC reads pixel (y0, x0) for the top-left tap of the 4x4 "
                    "neighbourhood instead of (y0 - 1, x0 - 1) (ONNX GridSample / torch bicubic)"}
DATA_SHAPE = (1, 1, 3, 4)  # [N, C, H, W]
GRID_SHAPE = (1, 3, 4, 2)  # [N, H_out, W_out, 2]: (x, y) in [-1, 1] per output pixel; outside [-1, 1] is off the image
MODES = ("NEAREST", "LINEAR", "CUBIC")


def build_network(builder, network, config, inputs):
    data = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    grid = network.add_input("inputT1", trt.float32, inputs["inputT1"].shape)
    for mode in MODES:
        layer = network.add_grid_sample(data, grid)
        layer.interpolation_mode = trt.InterpolationMode.__members__[mode]
        print(f"interpolation_mode = {layer.interpolation_mode}")
        layer.get_output(0).name = f"{mode}/outputT0"
        network.mark_output(layer.get_output(0))


def run_example(inputs):
    outputs = run_engine(build_engine(build_network, inputs), inputs)
    cubic = outputs["CUBIC/outputT0"].astype(np.float64)
    for label, top_left_tap_at_1_1 in (("documented bicubic (ONNX / torch)", False), ("one-tap model", True)):
        model = grid_sample(inputs["inputT0"], inputs["inputT1"], "CUBIC", top_left_tap_at_1_1=top_left_tap_at_1_1)
        print(f"CUBIC vs the {label}: max abs difference = {np.max(np.abs(cubic - model)):.3e}, "
              f"{int(np.sum(~np.isclose(cubic, model, **TOLERANCE)))} of {model.size} outputs differ")
    return outputs


def make_inputs():
    rng = np.random.default_rng(31193)
    data = rng.standard_normal(DATA_SHAPE).astype(np.float32)
    grid = away_from_ties(rng.uniform(-1.8, 1.8, GRID_SHAPE).astype(np.float32), rng)
    return {"inputT0": data, "inputT1": grid}


def reference(inputs):
    return {f"{m}/outputT0": grid_sample(inputs["inputT0"], inputs["inputT1"], mode=m) for m in MODES}


# ==== numpy helpers of this folder: identical in every script of the folder that has them ====

CUBIC_A = -0.75  # the cubic convolution coefficient of PyTorch's bicubic and ONNX GridSample "cubic"


def away_from_ties(grid, rng):
    """Redraw grid positions that fall near a half-pixel tie, where NEAREST would depend on the rounding rule."""
    for _ in range(100):
        coords = [unnormalize(grid[..., axis].astype(np.float64), size, align)
                  for axis, size in ((0, DATA_SHAPE[3]), (1, DATA_SHAPE[2])) for align in (False, True)]
        tie = np.zeros(GRID_SHAPE[:3], dtype=bool)
        for c in coords:
            tie |= np.abs(c - np.floor(c) - 0.5) < 0.05
        if not tie.any():
            break
        grid[tie] = rng.uniform(-1.8, 1.8, (int(tie.sum()), 2)).astype(np.float32)
    return grid


def grid_sample(data, grid, mode="LINEAR", sample_mode="FILL", align_corners=False, top_left_tap_at_1_1=False):
    """numpy grid sample, the semantics of ONNX GridSample and torch.nn.functional.grid_sample.

    top_left_tap_at_1_1=True: the CUBIC variant seen with TensorRT 8.6.0 (GridSampleLayer/InterpolationMode.py),
    where the 4x4 neighbourhood's tap [0][0] reads the pixel of tap [1][1]; only for printing, never a reference.
    """
    data, grid = data.astype(np.float64), grid.astype(np.float64)
    n, c, h, w = data.shape
    out = np.zeros((n, c) + grid.shape[1:3])
    for b in range(n):
        x = unnormalize(grid[b, ..., 0], w, align_corners)
        y = unnormalize(grid[b, ..., 1], h, align_corners)
        for ch in range(c):
            image = data[b, ch]
            if mode == "CUBIC":
                x0, y0 = np.floor(x), np.floor(y)
                wx, wy = cubic_weights(x - x0), cubic_weights(y - y0)
                value = 0.0
                for i in range(4):
                    for j in range(4):  # tap [i][j] is pixel (y0 - 1 + i, x0 - 1 + j)
                        ti, tj = (1, 1) if (top_left_tap_at_1_1 and i == 0 and j == 0) else (i, j)
                        yy = apply_sample_mode(y0 - 1 + ti, h, sample_mode, align_corners)
                        xx = apply_sample_mode(x0 - 1 + tj, w, sample_mode, align_corners)
                        value = value + wy[i] * wx[j] * pixel(image, yy.astype(np.int64), xx.astype(np.int64))
                out[b, ch] = value
                continue
            xs = apply_sample_mode(x, w, sample_mode, align_corners)
            ys = apply_sample_mode(y, h, sample_mode, align_corners)
            if mode == "NEAREST":
                out[b, ch] = pixel(image, np.rint(ys).astype(np.int64), np.rint(xs).astype(np.int64))
            else:
                x0, y0 = np.floor(xs), np.floor(ys)
                tx, ty = xs - x0, ys - y0
                x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
                out[b, ch] = (pixel(image, y0, x0) * (1 - ty) * (1 - tx) + pixel(image, y0, x0 + 1) * (1 - ty) * tx
                              + pixel(image, y0 + 1, x0) * ty * (1 - tx) + pixel(image, y0 + 1, x0 + 1) * ty * tx)
    return out.astype(np.float32)


def unnormalize(coord, size, align_corners):
    """[-1, 1] -> pixel coordinate: -1/+1 are the centres (align_corners) or the outer edges of the end pixels."""
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def reflect(coord, size, align_corners):
    """Mirror a coordinate into the valid range (about the end pixel centres or the outer edges)."""
    low, high = (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)
    span = high - low
    if span <= 0:
        return np.zeros_like(coord)
    distance = np.abs(coord - low)
    flips = np.floor(distance / span)
    extra = distance - flips * span
    return np.where(flips % 2 == 0, low + extra, high - extra)


def apply_sample_mode(coord, size, sample_mode, align_corners):
    if sample_mode == "CLAMP":
        return np.clip(coord, 0, size - 1)
    if sample_mode == "REFLECT":
        return np.clip(reflect(coord, size, align_corners), 0, size - 1)
    return coord  # FILL: positions outside read 0


def pixel(image, y, x):
    """image[y, x] for integer arrays y, x; 0 outside the image (FILL)."""
    h, w = image.shape
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    return np.where(inside, image[np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)], 0.0)


def cubic_weights(t):
    """Keys cubic convolution weights of the 4 taps at distances t + 1, t, 1 - t, 2 - t."""
    a = CUBIC_A

    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


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
