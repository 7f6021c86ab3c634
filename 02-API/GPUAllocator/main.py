#!/usr/bin/env python3
"""02-API/GPUAllocator: take over TensorRT's GPU memory allocations with an IGpuAllocator.

A trt.IGpuAllocator subclass implements
    allocate(size, alignment, flags) -> device pointer (int), 0 when it cannot (or size == 0)
    deallocate(memory) -> True when freed            (free(memory) is the deprecated older name)
    reallocate(address, alignment, new_size) -> pointer, for allocations made with AllocatorFlag.RESIZABLE
It is set with builder.gpu_allocator = ... (memory used while building) and runtime.gpu_allocator = ...
(engine weights and execution-context memory). This allocator uses cudaMalloc / cudaFree and records every
call (size, alignment, flags), so the script can print what TensorRT asked for in each phase and check that
the engine still computes the right result.
"""
import gc
import os
import sys
import threading

import numpy as np
import tensorrt as trt

try:  # cuda-python >= 12.6 ships the runtime API as cuda.bindings.runtime
    from cuda.bindings import runtime as cudart
except ImportError:  # older cuda-python
    from cuda import cudart

INPUT_NAME = "inputT0"
OUTPUT_NAME = "outputT0"
SHAPE = (4, 64)
HIDDEN = 128
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # FP32 (TF32 cleared)


def make_inputs():
    rng = np.random.default_rng(31193)
    return {INPUT_NAME: rng.standard_normal(SHAPE).astype(np.float32)}


def make_weights():
    rng = np.random.default_rng(97)
    return {"w": (rng.standard_normal((SHAPE[1], HIDDEN)) / np.sqrt(SHAPE[1])).astype(np.float32)}


def reference(inputs):
    """y = ReLU(x @ W); allocator_used: both the builder and the runtime went through our allocator."""
    y = np.maximum(inputs[INPUT_NAME].astype(np.float64) @ make_weights()["w"].astype(np.float64), 0)
    return {OUTPUT_NAME: y.astype(np.float32), "allocator_used": np.array(True)}


def check_cuda(result):
    """cuda-python returns (error, value, ...): stop on any error, return the value(s)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {error.name}: {cudart.cudaGetErrorString(error)[1].decode()}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


class TrackingGpuAllocator(trt.IGpuAllocator):
    """cudaMalloc / cudaFree, recording every request. TensorRT may call it from several threads.

    The methods are called by TensorRT and must not raise: they check every CUDA call and answer 0 (nullptr) or
    False when one fails, which TensorRT handles as a failed allocation."""

    def __init__(self):
        trt.IGpuAllocator.__init__(self)  # the base class must be initialised explicitly
        self.lock = threading.Lock()
        self.live = {}  # returned pointer -> (pointer cudaMalloc gave, size)
        self.log = []  # ("allocate" / "deallocate" / "reallocate", size, alignment, flags)
        self.peak = 0

    def _malloc(self, size, alignment):
        """(aligned pointer, cudaMalloc's pointer), or (0, 0). cudaMalloc documents 256-byte alignment; TensorRT
        may ask for more (512 in every request, seen with TensorRT 8.6.0 on an H100), so for a larger alignment
        allocate that many bytes more and round the address up."""
        extra = alignment if alignment > 256 else 0
        error, base = cudart.cudaMalloc(size + extra)
        if error != cudart.cudaError_t.cudaSuccess:
            return 0, 0
        base = int(base)
        return ((base + extra - 1) // extra * extra if extra else base), base

    def allocate(self, size, alignment, flags):
        if size == 0:
            return 0  # the contract: nullptr for a 0-byte request
        pointer, base = self._malloc(size, alignment)
        if pointer:
            with self.lock:
                self.live[pointer] = (base, size)
                self.log.append(("allocate", size, alignment, flags))
                self.peak = max(self.peak, sum(size for _, size in self.live.values()))
        return pointer  # 0 (nullptr): TensorRT reports an allocation failure

    def deallocate(self, memory):
        if memory == 0:
            return True  # TensorRT may hand back a nullptr it got from allocate()
        with self.lock:
            base, size = self.live.pop(int(memory), (int(memory), None))
            self.log.append(("deallocate", size, 0, 0))
        return cudart.cudaFree(base)[0] == cudart.cudaError_t.cudaSuccess

    def free(self, memory):  # deprecated since TensorRT 8.0, kept for callers of the old name
        self.deallocate(memory)

    def reallocate(self, address, alignment, new_size):
        """Grow (or shrink) an allocation: copy the old content to a new block, free the old one. 0 (nullptr) means
        "not done": the old allocation then stays valid, so every failure path leaves it untouched."""
        with self.lock:
            old_base, old_size = self.live.get(int(address), (0, None))
        if old_size is None:
            return 0  # not ours
        if new_size <= old_size:
            with self.lock:
                self.log.append(("reallocate", new_size, alignment, 0))
            return int(address)  # resize in place
        pointer, base = self._malloc(new_size, alignment)
        if not pointer:
            return 0
        copied = cudart.cudaMemcpy(pointer, address, old_size, cudart.cudaMemcpyKind.cudaMemcpyDeviceToDevice)[0]
        if copied != cudart.cudaError_t.cudaSuccess or cudart.cudaFree(old_base)[0] != cudart.cudaError_t.cudaSuccess:
            if cudart.cudaFree(base)[0] != cudart.cudaError_t.cudaSuccess:  # give the new block back
                print(f"reallocate: could not free the new block at {pointer} either")
            return 0
        with self.lock:
            self.live.pop(int(address))
            self.live[pointer] = (base, new_size)
            self.log.append(("reallocate", new_size, alignment, 0))
            self.peak = max(self.peak, sum(size for _, size in self.live.values()))
        return pointer

    def summary(self, title, since=0):
        entries = self.log[since:]
        allocations = [e for e in entries if e[0] == "allocate"]
        resizable = 1 << int(trt.AllocatorFlag.RESIZABLE)
        print(f"{title}: {len(allocations)} allocate, {sum(e[0] == 'deallocate' for e in entries)} deallocate, "
              f"{sum(e[0] == 'reallocate' for e in entries)} reallocate calls; "
              f"{sum(e[1] for e in allocations)} bytes requested; "
              f"now live: {len(self.live)} blocks, {sum(size for _, size in self.live.values())} bytes; "
              f"peak so far {self.peak} bytes")
        for kind, size, alignment, flags in entries[:8]:
            print(f"  {kind:10s} size={size} alignment={alignment} flags={flags}"
                  + (" (RESIZABLE)" if flags & resizable else ""))
        if len(entries) > 8:
            print(f"  ... {len(entries) - 8} more")
        return len(allocations)


def build(logger, allocator):
    builder = trt.Builder(logger)
    builder.gpu_allocator = allocator  # every GPU allocation of this builder goes through it
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    config = builder.create_builder_config()
    config.clear_flag(trt.BuilderFlag.TF32)
    w = make_weights()
    x = network.add_input(INPUT_NAME, trt.float32, SHAPE)
    weight = network.add_constant(w["w"].shape, w["w"])
    mm = network.add_matrix_multiply(x, trt.MatrixOperation.NONE, weight.get_output(0), trt.MatrixOperation.NONE)
    relu = network.add_activation(mm.get_output(0), trt.ActivationType.RELU)
    relu.get_output(0).name = OUTPUT_NAME
    network.mark_output(relu.get_output(0))
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("building the engine failed")
    return plan


def main():
    logger = trt.Logger(trt.Logger.ERROR)
    allocator = TrackingGpuAllocator()

    print("=== build: builder.gpu_allocator = TrackingGpuAllocator()")
    plan = build(logger, allocator)
    gc.collect()  # the builder is gone: what it allocated should be handed back by now
    n_build = allocator.summary("after building (builder released)")

    print("\n=== run: runtime.gpu_allocator = TrackingGpuAllocator()")
    mark = len(allocator.log)
    runtime = trt.Runtime(logger)
    runtime.gpu_allocator = allocator  # engine weights and context memory come from it
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise RuntimeError("deserializing the engine failed")
    allocator.summary("after deserialize_cuda_engine", mark)
    mark2 = len(allocator.log)
    context = engine.create_execution_context()
    print(f"engine.device_memory_size = {engine.device_memory_size} bytes (the context's activation memory)")
    allocator.summary("after create_execution_context", mark2)
    n_run = sum(1 for e in allocator.log[mark:] if e[0] == "allocate")

    inputs = make_inputs()
    x = inputs[INPUT_NAME]
    out = np.empty(tuple(context.get_tensor_shape(OUTPUT_NAME)), dtype=np.float32)
    d_in = check_cuda(cudart.cudaMalloc(x.nbytes))  # our own I/O buffers: not through the allocator
    d_out = check_cuda(cudart.cudaMalloc(out.nbytes))
    context.set_tensor_address(INPUT_NAME, d_in)
    context.set_tensor_address(OUTPUT_NAME, d_out)
    stream = check_cuda(cudart.cudaStreamCreate())
    check_cuda(cudart.cudaMemcpyAsync(d_in, x.ctypes.data, x.nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice,
                                      stream))
    if not context.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 failed")
    check_cuda(cudart.cudaMemcpyAsync(out.ctypes.data, d_out, out.nbytes,
                                      cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))
    check_cuda(cudart.cudaStreamSynchronize(stream))
    check_cuda(cudart.cudaStreamDestroy(stream))
    check_cuda(cudart.cudaFree(d_in))
    check_cuda(cudart.cudaFree(d_out))

    mark3 = len(allocator.log)
    del context, engine, runtime
    gc.collect()
    allocator.summary("after deleting context, engine and runtime", mark3)

    expected = reference(inputs)
    used = n_build > 0 and n_run > 0
    print(f"check result: {used}, allocator used by the builder ({n_build} allocations) "
          f"and by the runtime ({n_run} allocations)")
    max_error = float(np.max(np.abs(out - expected[OUTPUT_NAME])))
    passed = bool(np.allclose(out, expected[OUTPUT_NAME], **TOLERANCE))
    print(f"check result: {passed}, max abs error = {max_error:.3e}")
    np.savez(os.path.splitext(os.path.basename(__file__))[0] + ".output.npz",
             **{OUTPUT_NAME: out, "allocator_used": np.array(used)})
    return passed and used


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
