#!/usr/bin/env python3
"""04-BuildEngineByONNXParser/QAT/qat_train.py: quantization-aware fine-tuning of chapter 03's CNN with torch's own
fake quantization, on the CPU (seconds); writes qat_weights.npz.

    python3 qat_train.py                      # writes qat_weights.npz next to this file (the committed file)
    python3 qat_train.py --output /tmp/w.npz  # writes elsewhere

QATDigitsCNN is chapter 03's network with INT8 fake quantization at the inputs and weights of conv2, fc1 and fc2:
torch.fake_quantize_per_tensor_affine / torch.fake_quantize_per_channel_affine, which round to the INT8 grid in the
forward pass and let the gradient through unchanged inside the clamping range (the straight-through estimator), and
which torch.onnx.export writes as QuantizeLinear + DequantizeLinear pairs. conv1, whose input has one channel, is
left in floating point. The scales:
- activations (each quantized layer's input): per tensor, max |value| / 127 over the training images, measured with
  the trained FP32 network before fine-tuning, then kept fixed;
- weights: per output channel for conv2 (axis 0), per tensor for fc1 and fc2, max |w| / 127, recomputed from the
  weights before every step (they move while training) and stored with the final weights.
Training starts from digits_cnn.npz (chapter 03's weights) and runs EPOCHS epochs of Adam at a small learning rate,
seeded. The weights and all scales are written with np.savez as float32 arrays under their state_dict names
(conv1.weight, ..., conv2_input_scale, conv2_weight_scale, ...): main.py loads them with load_state_dict. torch does
not promise bit-identical training on other CPUs or versions, so a retrained file may differ slightly from the
committed one; main.py checks the engine against the committed file.
"""
import argparse
import os
import time

import numpy as np
import torch

from digits import load

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 7
EPOCHS = 3
BATCH = 32
LEARNING_RATE = 1e-4
QUANTIZED = ("conv2", "fc1", "fc2")  # layers whose input and weights are quantized to INT8
F = torch.nn.functional


def fake_quantize(x, scale, axis=None):
    """INT8 quantize and dequantize: clamp(round(x / scale), -128, 127) * scale, with zero point 0 (symmetric, as
    TensorRT requires). `scale` is a 0-d tensor (per tensor) or one scale per index of `axis` (per channel)."""
    zero_point = torch.zeros(scale.shape, dtype=torch.int32)
    if axis is None:
        return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, -128, 127)
    return torch.fake_quantize_per_channel_affine(x, scale, zero_point, axis, -128, 127)


class QATDigitsCNN(torch.nn.Module):
    """Chapter 03's DigitsCNN with fake quantization at the inputs and weights of the QUANTIZED layers.
    `self.quantize = False` gives the plain FP32 network (the same weights, no quantization)."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(16, 32, 5, padding=2)
        self.fc1 = torch.nn.Linear(32 * 7 * 7, 64)
        self.fc2 = torch.nn.Linear(64, 10)
        self.quantize = True
        for name in QUANTIZED:  # buffers: saved in state_dict, exported as ONNX initializers (constant scales)
            self.register_buffer(f"{name}_input_scale", torch.ones(()))
            self.register_buffer(f"{name}_weight_scale", torch.ones(32 if name == "conv2" else ()))

    def quantized(self, name, x):
        """Layer `name` applied to x, both its input and its weights fake-quantized (when self.quantize)."""
        module = getattr(self, name)  # a torch.nn.Conv2d or Linear
        weight = module.weight
        if self.quantize:
            x = fake_quantize(x, getattr(self, f"{name}_input_scale"))
            weight = fake_quantize(weight, getattr(self, f"{name}_weight_scale"), 0 if weight.dim() == 4 else None)
        if weight.dim() == 4:
            return F.conv2d(x, weight, module.bias, padding=2)
        return F.linear(x, weight, module.bias)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)  # conv1: floating point
        x = F.max_pool2d(torch.relu(self.quantized("conv2", x)), 2)
        x = torch.relu(self.quantized("fc1", torch.flatten(x, 1)))
        return self.quantized("fc2", x)

    def update_weight_scales(self):
        with torch.no_grad():
            for name in QUANTIZED:
                w = getattr(self, name).weight
                amax = w.abs().amax(dim=(1, 2, 3)) if w.dim() == 4 else w.abs().max()  # per channel / per tensor
                getattr(self, f"{name}_weight_scale").copy_(amax / 127)

    def calibrate_input_scales(self, images):
        """max |input| / 127 of each quantized layer, from the FP32 network over `images`."""
        with torch.no_grad():
            conv2_input = F.max_pool2d(torch.relu(self.conv1(images)), 2)
            fc1_input = torch.flatten(F.max_pool2d(torch.relu(self.conv2(conv2_input)), 2), 1)
            fc2_input = torch.relu(self.fc1(fc1_input))
            for name, value in zip(QUANTIZED, (conv2_input, fc1_input, fc2_input)):
                getattr(self, f"{name}_input_scale").copy_(value.abs().max() / 127)


def accuracy(model, images, labels):
    with torch.no_grad():
        return float((model(images).argmax(dim=1) == labels).float().mean())


def main():
    command_line = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    command_line.add_argument("--output", default=os.path.join(HERE, "qat_weights.npz"),
                              help="where to write the weights and scales (default: qat_weights.npz here)")
    args = command_line.parse_args()

    torch.manual_seed(SEED)
    train_images, train_labels = (torch.from_numpy(a) for a in load("train"))
    test_images, test_labels = (torch.from_numpy(a) for a in load("test"))
    train_labels, test_labels = train_labels.long(), test_labels.long()
    model = QATDigitsCNN()
    with np.load(os.path.join(HERE, "digits_cnn.npz")) as data:  # chapter 03's trained FP32 weights
        model.load_state_dict({name: torch.from_numpy(data[name]) for name in data.files}, strict=False)
    model.eval()
    model.quantize = False
    print(f"FP32 network (digits_cnn.npz): test accuracy {accuracy(model, test_images, test_labels):.4f}")
    model.quantize = True
    model.calibrate_input_scales(train_images)
    model.update_weight_scales()
    print("input scales: " + ", ".join(f"{n} {float(getattr(model, f'{n}_input_scale')):.6f}" for n in QUANTIZED))
    print(f"fake-quantized, before fine-tuning: test accuracy {accuracy(model, test_images, test_labels):.4f}")

    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    shuffle = torch.Generator().manual_seed(SEED)
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(train_labels), generator=shuffle)
        total = 0.0
        for i in range(0, len(order), BATCH):
            batch = order[i:i + BATCH]
            model.update_weight_scales()
            optimizer.zero_grad()
            loss = F.cross_entropy(model(train_images[batch]), train_labels[batch])
            loss.backward()  # through the fake quantization: the straight-through estimator
            optimizer.step()
            total += loss.item() * len(batch)
        model.update_weight_scales()
        model.eval()
        print(f"epoch {epoch + 1}: loss {total / len(order):.4f}, fake-quantized test accuracy "
              f"{accuracy(model, test_images, test_labels):.4f} ({time.perf_counter() - start:.1f} s)")

    final = accuracy(model, test_images, test_labels)
    print(f"test accuracy: {final:.4f} ({round(final * len(test_labels))} of {len(test_labels)} test images)")
    arrays = {name: value.detach().numpy().astype(np.float32) for name, value in model.state_dict().items()}
    np.savez(args.output, **arrays)
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes): "
          + ", ".join(f"{name} {tuple(value.shape)}" for name, value in arrays.items()))


if __name__ == "__main__":
    main()
