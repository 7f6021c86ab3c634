#!/usr/bin/env python3
"""07-Tool/Polygraphy-CLI/Debug / get_model.py: the three models of the debug tools (run by command.sh).

A small CNN: x [batch, 1, 28, 28] -> Conv 3x3 -> ReLU -> MaxPool -> Conv 3x3 -> ReLU -> MaxPool -> Flatten -> Linear
-> y [batch, 10] (logits); torch.onnx.export with dynamo=False, opset 17, batch dynamic (for `debug build`).
model-bad.onnx: x [4,8] -> Relu -> Add -> NotInTensorRT (domain "cookbook", no plugin) -> Relu -> Mul -> y, every
tensor's type and shape stated (for `debug reduce`, which cuts the model down to the node that breaks).
model-norm.onnx: x [4,256] -> Mul 64 -> square (Mul) -> ReduceSum over axis 1 -> Sqrt -> Div: y = x / ||64 x||. With
x in [0,1), the sum of squares is about 256 * 64^2 / 3 = 350,000, more than float16's largest value 65,504: in FP16
the ReduceSum overflows to inf and y becomes 0 (for `debug precision`).
"""
import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

SCALE = 64.0


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


def export_bad(path="model-bad.onnx"):
    def info(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [4, 8])

    c = numpy_helper.from_array(np.full((4, 8), 0.5, np.float32), "c")
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="Relu0"),
             helper.make_node("Add", ["a", "c"], ["b"], name="Add1"),
             helper.make_node("NotInTensorRT", ["b"], ["d"], name="Custom2", domain="cookbook"),
             helper.make_node("Relu", ["d"], ["e"], name="Relu3"),
             helper.make_node("Mul", ["e", "c"], ["y"], name="Mul4")]
    graph = helper.make_graph(nodes, "bad", [info("x")], [info("y")], [c], value_info=[info(n) for n in "abde"])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("cookbook", 1)])
    model.ir_version = 8  # the IR version of opset 17, the newest TensorRT 8.6's parser was built for
    onnx.save(model, path)


def export_norm(path="model-norm.onnx"):
    inits = [numpy_helper.from_array(np.array(SCALE, np.float32), "scale"),
             numpy_helper.from_array(np.array([1], np.int64), "axes")]
    nodes = [helper.make_node("Mul", ["x", "scale"], ["t"], name="Scale"),
             helper.make_node("Mul", ["t", "t"], ["square"], name="Square"),
             helper.make_node("ReduceSum", ["square", "axes"], ["sumSquare"], name="ReduceSum", keepdims=1),
             helper.make_node("Sqrt", ["sumSquare"], ["norm"], name="Sqrt"),
             helper.make_node("Div", ["x", "norm"], ["y"], name="Div")]
    graph = helper.make_graph(nodes, "norm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 256])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 256])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


if __name__ == "__main__":
    export_model()
    export_bad()
    export_norm()
    print("wrote model.onnx, model-bad.onnx and model-norm.onnx")
