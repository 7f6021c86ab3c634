#!/usr/bin/env python3
"""03-BuildEngineByTensorRTAPI/DigitsCNN/train.py: train the slides' small CNN in torch on the CPU, save its weights.

    python3 train.py                       # writes digits_cnn.npz next to this file (the committed weights)
    python3 train.py --output /tmp/w.npz   # writes elsewhere (tests/test_training.py does this)

The network of the slides' MNIST example, slimmed so that its weights stay a small file (the slides use 32 and 64
maps and a hidden layer of 1024):
    Conv2d(1, 16, 5, padding=2) + ReLU + MaxPool2d(2)  -> [N, 16, 14, 14]
    Conv2d(16, 32, 5, padding=2) + ReLU + MaxPool2d(2) -> [N, 32, 7, 7]
    Flatten -> Linear(1568, 64) + ReLU -> Linear(64, 10) -> logits [N, 10]
Data: digits.py (scikit-learn's 8x8 digits resized to 28x28; 1437 training images, 360 test images).
The weights are saved with np.savez as float32 arrays under their torch state_dict names (conv1.weight,
conv1.bias, ..., fc2.bias): this file is what main.py and main.cpp rebuild the network from. Training is seeded,
but torch does not promise bit-identical training on other CPUs or versions: a retrained file may differ slightly
from the committed one (the README states the accuracy the committed weights reach).
"""
import argparse
import os
import time

import numpy as np
import torch

from digits import load

SEED = 97
EPOCHS = 15
BATCH = 32
LEARNING_RATE = 2e-3


class DigitsCNN(torch.nn.Module):
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
        return self.fc2(x)  # logits: the class is their argmax


def accuracy(model, images, labels):
    with torch.no_grad():
        return float((model(images).argmax(dim=1) == labels).float().mean())


def main():
    command_line = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    command_line.add_argument("--output", help="where to write the weights (default: digits_cnn.npz next to this file)",
                              default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits_cnn.npz"))
    args = command_line.parse_args()

    torch.manual_seed(SEED)
    train_images, train_labels = (torch.from_numpy(a) for a in load("train"))
    test_images, test_labels = (torch.from_numpy(a) for a in load("test"))
    train_labels, test_labels = train_labels.long(), test_labels.long()
    model = DigitsCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)  # a smaller step each epoch
    shuffle = torch.Generator().manual_seed(SEED)
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(train_labels), generator=shuffle)
        total = 0.0
        for i in range(0, len(order), BATCH):
            batch = order[i:i + BATCH]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(train_images[batch]), train_labels[batch])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        schedule.step()
        model.eval()
        print(f"epoch {epoch + 1}: loss {total / len(order):.4f}, test accuracy "
              f"{accuracy(model, test_images, test_labels):.4f} ({time.perf_counter() - start:.1f} s)")

    test_accuracy = accuracy(model, test_images, test_labels)
    correct = round(test_accuracy * len(test_labels))
    print(f"test accuracy: {test_accuracy:.4f} ({correct} of {len(test_labels)} test images)")
    weights = {name: value.detach().numpy().astype(np.float32) for name, value in model.state_dict().items()}
    np.savez(args.output, **weights)
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes): "
          + ", ".join(f"{name} {tuple(value.shape)}" for name, value in weights.items()))


if __name__ == "__main__":
    main()
