#!/usr/bin/env python3
"""07-Tool/Polygraphy-CLI/Convert / get_model.py: export model.onnx (run by command.sh, imported by main.py).

A small CNN: x [batch, 1, 28, 28] -> Conv 3x3 -> ReLU -> MaxPool -> Conv 3x3 -> ReLU -> MaxPool -> Flatten -> Linear
-> y [batch, 10] (logits); torch.onnx.export with dynamo=False, opset 17, batch dynamic.
"""
import torch


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
    export_model()
    print("wrote model.onnx")
