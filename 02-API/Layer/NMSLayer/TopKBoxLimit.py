#!/usr/bin/env python3
"""NMSLayer / TopKBoxLimit: only the topk_box_limit highest-scoring boxes of an image are considered.

Not set (default 5000 on this GPU; at most 5000, 2000 on SM 5.3 / 6.2), 2 and 4, with one class (class 0 of the
scores), an IoU threshold of 0.5 and max_output_boxes_per_class 6."""
import os
import sys

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # the outputs are INT32: compared exactly
VALUES = (None, 2, 4)  # None: the default

# six boxes of one image as (x1, y1, x2, y2); box 1 overlaps box 0 (IoU 0.68), box 2 overlaps box 0 (IoU 0.60) and
# box 1 (IoU 0.39), box 4 overlaps box 3 (IoU 0.47), box 5 is alone
BOXES = np.array([[[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 6], [20, 20, 30, 30], [22, 22, 32, 32],
                   [50, 50, 55, 55]]], dtype=np.float32)  # [batch 1, 6 boxes, 4]
SCORES = np.array([[[0.90, 0.10], [0.80, 0.35], [0.30, 0.85], [0.70, 0.40], [0.60, 0.45],
                    [0.20, 0.95]]], dtype=np.float32)  # [batch 1, 6 boxes, 2 classes], all different


def make_inputs():
    return {"boxes": BOXES, "scores": SCORES[:, :, :1].copy()}


def key(value):
    return "topkDefault/" if value is None else f"topk{value}/"


def corners(boxes, box_format):
    """[..., 4] boxes -> (x_min, y_min, x_max, y_max)."""
    b = boxes.astype(np.float64)
    if box_format == "CENTER_SIZES":  # (x_center, y_center, width, height)
        return np.stack([b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2,
                         b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2], axis=-1)
    # CORNER_PAIRS: any two diagonal corners
    return np.stack([np.minimum(b[..., 0], b[..., 2]), np.minimum(b[..., 1], b[..., 3]),
                     np.maximum(b[..., 0], b[..., 2]), np.maximum(b[..., 1], b[..., 3])], axis=-1)


def iou(a, b):
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(boxes, scores, max_output_boxes_per_class, iou_threshold=0.0, score_threshold=0.0,
        box_format="CORNER_PAIRS", topk_box_limit=None):
    """numpy NMS as INMSLayer defines it: per image and class, greedy by decreasing score; a box is kept when its
    score > score_threshold and its IoU with every box kept before is <= iou_threshold; at most
    max_output_boxes_per_class per class; only the topk_box_limit best boxes of an image are considered.
    Returns (selected indices [n, 3] of (batch, class, box) sorted by batch then decreasing score, n)."""
    c = corners(boxes, box_format)
    rows = []
    for b in range(scores.shape[0]):
        candidates = [(scores[b, n, k], k, n) for n in range(scores.shape[1]) for k in range(scores.shape[2])
                      if scores[b, n, k] > score_threshold]
        candidates.sort(key=lambda t: -t[0])
        if topk_box_limit is not None:
            candidates = candidates[:topk_box_limit]
        kept = []
        for score, k, n in candidates:
            same_class = [m for _, kk, m in kept if kk == k]
            if len(same_class) >= max_output_boxes_per_class:
                continue
            box = c[b, n] if c.ndim == 3 else c[b, n, k]
            if all(iou(box, c[b, m] if c.ndim == 3 else c[b, m, k]) <= iou_threshold for m in same_class):
                kept.append((score, k, n))
        rows += [(b, k, n) for _, k, n in sorted(kept, key=lambda t: -t[0])]
    return np.array(rows, dtype=np.int32).reshape(-1, 3), np.array(len(rows), dtype=np.int32)


def reference(inputs):
    result = {}
    for value in VALUES:
        selected, number = nms(inputs['boxes'], inputs['scores'], 6, 0.5, topk_box_limit=value)
        result[key(value) + "selectedIndices"], result[key(value) + "numOutputBoxes"] = selected, number
    return result


def scalar_constant(network, value, dtype):
    """A 0-D constant tensor (max_output_boxes_per_class, IoU and score thresholds are 0-D tensors)."""
    return network.add_constant((), np.array([value], dtype=dtype)).get_output(0)


def mark_nms_outputs(network, layer, prefix):
    layer.get_output(0).name = f"{prefix}selectedIndices"  # INT32 [NumOutputBoxes, 3]: data-dependent shape
    layer.get_output(1).name = f"{prefix}numOutputBoxes"  # INT32 0-D
    network.mark_output(layer.get_output(0))
    network.mark_output(layer.get_output(1))


def add_layers(network, inputs):
    boxes = network.add_input("boxes", trt.float32, inputs["boxes"].shape)
    scores = network.add_input("scores", trt.float32, inputs["scores"].shape)
    for value in VALUES:
        layer = network.add_nms(boxes, scores, scalar_constant(network, 6, np.int32))
        layer.set_input(3, scalar_constant(network, 0.5, np.float32))
        if value is not None:
            layer.topk_box_limit = value
        print(f"TopKBoxLimit = {value}: topk_box_limit = {layer.topk_box_limit}, inputs set = {layer.num_inputs}")
        mark_nms_outputs(network, layer, key(value))


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class OutputAllocator(trt.IOutputAllocator):
    """Device memory for an output whose shape is known only while the engine runs (data-dependent shape).

    enqueue (execute_async_v3) calls reallocate_output() with the number of bytes it needs, then notify_shape()
    with the real shape of the output. TensorRT 8.6 needs one of these (or a large enough preset address) for
    every output whose shape contains -1 after all input shapes are set.
    """

    def __init__(self):
        trt.IOutputAllocator.__init__(self)
        self.address = 0
        self.size = 0
        self.shape = None

    def reallocate_output(self, tensor_name, memory, size, alignment):
        print(f"  reallocate_output(tensor_name={tensor_name}, size={size}, alignment={alignment})")
        if size > self.size:
            if self.address:
                check_cuda(cudart.cudaFree(self.address))
            self.address = check_cuda(cudart.cudaMalloc(size))
            self.size = size
        return self.address

    def notify_shape(self, tensor_name, shape):
        print(f"  notify_shape(tensor_name={tensor_name}, shape={tuple(shape)})")
        self.shape = tuple(shape)


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
    """Build the network, run it once, return {output name: numpy array}.

    Outputs with a data-dependent shape get an OutputAllocator instead of a preset address.
    """
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    add_layers(network, inputs)
    # TensorRT 8.6 quirk: an engine with a data-dependent output shape (NonZero, NMS) needs an optimization profile,
    # even when every input shape is static; without one, create_execution_context() logs "Unexpected exception
    # vector<bool>::_M_range_check" and returns None. A profile with min = opt = max = the static shape is enough.
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        profile.set_shape(tensor.name, tuple(tensor.shape), tuple(tensor.shape), tuple(tensor.shape))
        print(f"optimization profile: {tensor.name} min = opt = max = {tuple(tensor.shape)}")
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("building the engine failed")
    engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    context = engine.create_execution_context()
    if context is None:
        raise RuntimeError("create_execution_context failed (see the TensorRT log above)")
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    input_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    output_names = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    host, device, allocators = {}, {}, {}
    for name in input_names:
        host[name] = np.ascontiguousarray(inputs[name], dtype=trt.nptype(engine.get_tensor_dtype(name)))
        context.set_input_shape(name, host[name].shape)
        device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
        context.set_tensor_address(name, device[name])
    for name in output_names:
        shape = tuple(context.get_tensor_shape(name))
        if -1 in shape:  # data-dependent: the size is known only during enqueue
            print(f"{name}: shape before enqueue {shape}, upper bound {context.get_max_output_size(name)} bytes"
                  " -> set_output_allocator")
            allocators[name] = OutputAllocator()
            if not context.set_output_allocator(name, allocators[name]):
                raise RuntimeError(f"set_output_allocator({name}) failed")
        else:
            host[name] = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
            device[name] = check_cuda(cudart.cudaMalloc(max(host[name].nbytes, 1)))
            context.set_tensor_address(name, device[name])
    stream = check_cuda(cudart.cudaStreamCreate())
    for name in input_names:
        check_cuda(cudart.cudaMemcpyAsync(device[name], host[name].ctypes.data, host[name].nbytes,
                                          cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))
    print("execute_async_v3:")
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaStreamSynchronize(stream))
    for name, allocator in allocators.items():  # the shape is known now
        print(f"{name}: shape after enqueue {tuple(context.get_tensor_shape(name))}")
        host[name] = np.empty(allocator.shape, dtype=trt.nptype(engine.get_tensor_dtype(name)))
        device[name] = allocator.address
    for name in output_names:
        if host[name].nbytes > 0:
            check_cuda(cudart.cudaMemcpyAsync(host[name].ctypes.data, device[name], host[name].nbytes,
                                              cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    check_cuda(cudart.cudaStreamDestroy(stream))
    for name in names:
        if device.get(name):
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
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz", **{k: outputs[k] for k in expected})
    return passed


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
