#!/usr/bin/env python3
"""GridSampleLayer / InterpolationMode: NEAREST, LINEAR (default) and CUBIC on the same input and grid.

NEAREST takes the closest pixel, LINEAR blends the 2x2 neighbours (bilinear), CUBIC the 4x4 neighbours (bicubic,
coefficient A = -0.75 as in PyTorch). sample_mode FILL, align_corners False.

TensorRT 8.6 quirk (found by comparing its output on an H100 with numpy): CUBIC is PyTorch's bicubic except for ONE
tap: the top-left tap of the 4x4 neighbourhood, whose weight is w_y[0] * w_x[0], reads the pixel (y0, x0) (the tap
at [1][1], 0 when off the image) instead of (y0 - 1, x0 - 1). The reference implements that (grid_sample(...,
trt86_cubic=True)) and the script prints how far this is from the textbook / PyTorch bicubic."""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
DATA_SHAPE = (1, 1, 3, 4)  # [N, C, H, W]
GRID_SHAPE = (1, 3, 4, 2)  # [N, H_out, W_out, 2]: (x, y) in [-1, 1] per output pixel; outside [-1, 1] is off the image


def make_inputs():
    rng = np.random.default_rng(31193)
    data = rng.standard_normal(DATA_SHAPE).astype(np.float32)
    grid = rng.uniform(-1.8, 1.8, GRID_SHAPE).astype(np.float32)
    # keep every sample away from the half-pixel ties where NEAREST would depend on the rounding rule
    for _ in range(100):
        coords = [unnormalize(grid[..., axis].astype(np.float64), size, align)
                  for axis, size in ((0, DATA_SHAPE[3]), (1, DATA_SHAPE[2])) for align in (False, True)]
        tie = np.zeros(GRID_SHAPE[:3], dtype=bool)
        for c in coords:
            tie |= np.abs(c - np.floor(c) - 0.5) < 0.05
        if not tie.any():
            break
        grid[tie] = rng.uniform(-1.8, 1.8, (int(tie.sum()), 2)).astype(np.float32)
    return {"inputT0": data, "inputT1": grid}


CUBIC_A = -0.75


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
    a = CUBIC_A
    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1
    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def grid_sample(data, grid, mode="LINEAR", sample_mode="FILL", align_corners=False, trt86_cubic=False):
    """numpy grid sample; CUBIC is PyTorch's bicubic, or TensorRT 8.6's variant with trt86_cubic=True (see above)."""
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
                    for j in range(4):
                        # tap [i][j] is pixel (y0 - 1 + i, x0 - 1 + j); TensorRT 8.6 reads tap [1][1] for tap [0][0]
                        ti, tj = (1, 1) if (trt86_cubic and i == 0 and j == 0) else (i, j)
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

MODES = ("NEAREST", "LINEAR", "CUBIC")


def reference(inputs):
    # CUBIC: what TensorRT 8.6 computes (PyTorch's bicubic with the top-left-tap quirk described at the top)
    return {f"{m}/outputT0": grid_sample(inputs["inputT0"], inputs["inputT1"], mode=m, trt86_cubic=(m == "CUBIC"))
            for m in MODES}


def add_layers(network, inputs):
    data = network.add_input("inputT0", trt.float32, inputs["inputT0"].shape)
    grid = network.add_input("inputT1", trt.float32, inputs["inputT1"].shape)
    for mode in MODES:
        layer = network.add_grid_sample(data, grid)
        layer.interpolation_mode = trt.InterpolationMode.__members__[mode]
        print(f"interpolation_mode = {layer.interpolation_mode}")
        layer.get_output(0).name = f"{mode}/outputT0"
        network.mark_output(layer.get_output(0))


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def check(name, actual, expected):
    """Compare one output with its reference: floats within TOLERANCE, integers and booleans exactly."""
    if actual.shape != expected.shape:
        print(f"check result: False, {name}: shape {actual.shape} != expected {expected.shape}")
        return False
    if expected.dtype.kind in "fc":
        a, e = actual.astype(np.float64), expected.astype(np.float64)
        error = float(np.max(np.abs(a - e))) if e.size else 0.0
        ok = bool(np.allclose(a, e, **TOLERANCE))
        print(f"check result: {ok}, {name}: max abs error = {error:.3e}")
    else:
        differ = int(np.sum(actual != expected))
        ok = differ == 0
        print(f"check result: {ok}, {name}: {differ} of {expected.size} elements differ (exact comparison)")
    return ok


def run_engine(inputs):
    """Build the network, run it once, return {output name: numpy array}."""
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    add_layers(network, inputs)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    context = engine.create_execution_context()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device = {}, {}
    for name in input_names:
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        context.set_input_shape(name, host[name].shape)  # harmless for static shapes
    for name in output_names:
        host[name] = np.empty(tuple(context.get_tensor_shape(name)), dtype=trt.nptype(engine.get_tensor_dtype(name)))
    for name in names:
        device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
        context.set_tensor_address(name, device[name])
    stream = check_cuda(cudart.cudaStreamCreate())
    for name in input_names:
        check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    for name in output_names:
        check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    check_cuda(cudart.cudaStreamDestroy(stream))
    for name in names:
        check_cuda(cudart.cudaFree(device[name]))
    return {name: host[name] for name in output_names}


def main():
    np.set_printoptions(precision=3, linewidth=120, suppress=True)
    inputs = make_inputs()
    for name, value in inputs.items():
        print(f"{name} {value.shape} {value.dtype}:\n{value}")
    outputs = run_engine(inputs)
    expected = reference(inputs)
    passed = True
    for name, value in expected.items():
        print(f"{name} {outputs[name].shape} {outputs[name].dtype}:\n{outputs[name]}")
        passed = check(name, outputs[name], value) and passed
    # what a reader porting a PyTorch model sees: TensorRT 8.6's CUBIC against torch.nn.functional.grid_sample bicubic
    textbook = grid_sample(inputs["inputT0"], inputs["inputT1"], mode="CUBIC")
    print("CUBIC/outputT0 of PyTorch's bicubic (grid_sample mode='bicubic', padding_mode='zeros'):\n" f"{textbook}")
    difference = float(np.max(np.abs(outputs["CUBIC/outputT0"].astype(np.float64) - textbook)))
    print(f"TensorRT 8.6 CUBIC vs PyTorch's bicubic: max abs difference = {difference:.3e} "
          "(top-left tap of the 4x4 neighbourhood reads pixel (y0, x0) instead of (y0 - 1, x0 - 1))")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **{k: outputs[k] for k in expected})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
