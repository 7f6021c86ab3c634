#!/usr/bin/env python3
"""07-Tool/Polygraphy-CLI/Inspect / get_model.py: export model.onnx and model-unsupported.onnx (run by command.sh).

A small CNN: x [batch, 1, 28, 28] -> Conv 3x3 -> ReLU -> MaxPool -> Conv 3x3 -> ReLU -> MaxPool -> Flatten -> Linear
-> y [batch, 10] (logits); torch.onnx.export with dynamo=False, opset 17, batch dynamic.
model-unsupported.onnx: x [4,8] -> Relu -> NotInTensorRT (domain "cookbook": no ONNX operator, no TensorRT plugin)
-> Relu -> y, every tensor's type and shape stated, so that the subgraphs can be saved without shape inference.
"""
import onnx
import torch
from onnx import TensorProto, helper


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


def export_unsupported(path="model-unsupported.onnx"):
    def info(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [4, 8])

    nodes = [helper.make_node("Relu", ["x"], ["a"], name="Relu0"),
             helper.make_node("NotInTensorRT", ["a"], ["b"], name="Custom1", domain="cookbook"),
             helper.make_node("Relu", ["b"], ["y"], name="Relu2")]
    graph = helper.make_graph(nodes, "unsupported", [info("x")], [info("y")], value_info=[info("a"), info("b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("cookbook", 1)])
    model.ir_version = 8  # the IR version of opset 17, the newest TensorRT 8.6's parser was built for
    onnx.save(model, path)


if __name__ == "__main__":
    export_model()
    export_unsupported()
    print("wrote model.onnx and model-unsupported.onnx")
