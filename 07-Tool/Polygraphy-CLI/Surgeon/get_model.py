#!/usr/bin/env python3
"""07-Tool/Polygraphy-CLI/Surgeon / get_model.py: a model with work for `polygraphy surgeon` (run by command.sh,
imported by main.py for the weights).

x [batch,4,4] -> Reshape to [batch, d1*d2] (the shape computed at run time: Shape, Gather, Mul, Unsqueeze, Concat)
-> MatMul with W*2+1 (computed at run time from the initializer W: Mul, Add) = hidden -> Relu = relu_out -> Add c = y.
Mul/Add on W and Gather(Shape(x), 1) * Gather(Shape(x), 2) = 16 are constant: `surgeon sanitize --fold-constants`
folds them; Gather(Shape(x), 0), the dynamic batch, stays.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(2026)
W = RNG.standard_normal((16, 8)).astype(np.float32)
C = RNG.standard_normal(8).astype(np.float32)


def export_model(path="model.onnx"):
    def const(name, value):
        return numpy_helper.from_array(np.asarray(value), name)

    inits = [const("W", W), const("two", np.float32(2)), const("one", np.float32(1)), const("c", C),
             const("i0", np.int64(0)), const("i1", np.int64(1)), const("i2", np.int64(2)),
             const("axes0", np.array([0], np.int64))]
    nodes = [helper.make_node("Mul", ["W", "two"], ["W2"], name="MulW"),
             helper.make_node("Add", ["W2", "one"], ["W3"], name="AddW"),
             helper.make_node("Shape", ["x"], ["xShape"], name="Shape"),
             helper.make_node("Gather", ["xShape", "i0"], ["d0"], name="GatherBatch", axis=0),
             helper.make_node("Gather", ["xShape", "i1"], ["d1"], name="Gather1", axis=0),
             helper.make_node("Gather", ["xShape", "i2"], ["d2"], name="Gather2", axis=0),
             helper.make_node("Mul", ["d1", "d2"], ["d12"], name="MulDims"),
             helper.make_node("Unsqueeze", ["d0", "axes0"], ["d0u"], name="Unsqueeze0"),
             helper.make_node("Unsqueeze", ["d12", "axes0"], ["d12u"], name="Unsqueeze12"),
             helper.make_node("Concat", ["d0u", "d12u"], ["newShape"], name="Concat", axis=0),
             helper.make_node("Reshape", ["x", "newShape"], ["flat"], name="Reshape"),
             helper.make_node("MatMul", ["flat", "W3"], ["hidden"], name="MatMul"),
             helper.make_node("Relu", ["hidden"], ["relu_out"], name="Relu"),
             helper.make_node("Add", ["relu_out", "c"], ["y"], name="AddC")]
    graph = helper.make_graph(nodes, "surgeonExample",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # the IR version of opset 17, the newest TensorRT 8.6 reads (polygraphy surgeon keeps it)
    onnx.checker.check_model(model)
    onnx.save(model, path)


if __name__ == "__main__":
    export_model()
    print("wrote model.onnx")
