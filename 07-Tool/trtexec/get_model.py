#!/usr/bin/env python3
"""07-Tool/trtexec / get_model.py: export the models trtexec reads (run by command.sh, imported by main.py).

model.onnx     a small CNN: x [batch, 1, 28, 28] -> Conv 3x3 -> ReLU -> MaxPool -> Conv 3x3 -> ReLU -> MaxPool
               -> Flatten -> MatMul -> y [batch, 10] (logits); batch is dynamic (torch dynamic_axes).
addScalar.onnx x [batch, 4] -> AddScalar(scalar=1.5) -> y: a node no ONNX operator set has; TensorRT's ONNX parser
               looks it up in the plugin registry by its op_type (the plugin of AddScalarPlugin.cu, loaded by
               trtexec --plugins=./AddScalarPlugin.so).
"""
import numpy as np
import onnx
import torch

SCALAR = 1.5


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


def export_add_scalar(path="addScalar.onnx"):
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 4])
    node = onnx.helper.make_node("AddScalar", ["x"], ["y"], name="AddScalar0", scalar=SCALAR)
    graph = onnx.helper.make_graph([node], "addScalar", [x], [y])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8  # the IR version of opset 17, the newest TensorRT 8.6's parser was built for
    onnx.save(model, path)


if __name__ == "__main__":
    export_model()
    export_add_scalar()
    print("wrote model.onnx and addScalar.onnx")
