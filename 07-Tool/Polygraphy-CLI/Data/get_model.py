#!/usr/bin/env python3
"""07-Tool/Polygraphy-CLI/Data / get_model.py: export model.onnx and write x.json, the input (run by command.sh).

A small CNN: x [batch, 1, 28, 28] -> Conv 3x3 -> ReLU -> MaxPool -> Conv 3x3 -> ReLU -> MaxPool -> Flatten -> Linear
-> y [batch, 10] (logits); torch.onnx.export with dynamo=False, opset 17, batch dynamic.
x.json: one input x [4,1,28,28] in Polygraphy's JSON format (a list of {name: array} feed dicts), for --load-inputs.
"""
import numpy as np
import torch

X = np.random.default_rng(5151).standard_normal((4, 1, 28, 28)).astype(np.float32)


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(16 * 7 * 7, 10))

    def forward(self, x):
        return self.body(x)


def export_model(path="model.onnx"):
    torch.manual_seed(97)
    model = SmallCNN().eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, dynamo=False, opset_version=17, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})


if __name__ == "__main__":
    from polygraphy.json import save_json

    export_model()
    save_json([{"x": X}], "x.json", description="the input x")
    print("wrote model.onnx and x.json")
