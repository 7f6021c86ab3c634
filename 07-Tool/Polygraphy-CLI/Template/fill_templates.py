#!/usr/bin/env python3
"""07-Tool/Polygraphy-CLI/Template / fill_templates.py: put code where the templates say TODO (as a reader would with
an editor): my_graph.py marks the second ReLU's output as a graph output, my_network.py does the same in the TensorRT
network, my_config.py gives CreateConfig the optimization profile and sets the builder's profiling verbosity.

With --trt-config-script, Polygraphy ignores every other config option (--trt-min-shapes ..., --fp16, ...): the
script's CreateConfig() is the whole configuration. Without profiles it makes one with every dynamic dimension = 1,
so the profile for x [batch,1,28,28] goes into the script here."""
RELU = "/body/body.4/Relu_output_0"
PROFILE = "Profile().add('x', min=[1, 1, 28, 28], opt=[4, 1, 28, 28], max=[16, 1, 28, 28])"
CONFIG_TODO = "    pass # TODO: Set up the builder configuration here. This function should not return anything."
EDITS = {  # file: [(template line, replacement), ...]
    "my_graph.py": [("# graph.outputs = [...]",
                     f"relu = graph.tensors()[{RELU!r}]\n"
                     "relu.dtype = onnx.TensorProto.FLOAT  # a graph output needs its type\n"
                     "graph.outputs = [*graph.outputs, relu]")],
    "my_network.py": [("    pass # TODO: Set up the network here. This function should not return anything.",
                       "    for index in range(network.num_layers):  # also mark the second ReLU's output\n"
                       "        tensor = network.get_layer(index).get_output(0)\n"
                       f"        if tensor.name == {RELU!r}:\n"
                       "            network.mark_output(tensor)")],
    "my_config.py": [("from polygraphy.backend.trt import CreateConfig",
                      "from polygraphy.backend.trt import CreateConfig, Profile"),
                     ("create_trt_config = CreateConfig()",
                      f"create_trt_config = CreateConfig(profiles=[{PROFILE}])"),
                     (CONFIG_TODO, "    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED")],
}

for path, edits in EDITS.items():
    with open(path) as f:
        text = f.read()
    for todo, code in edits:
        if todo not in text:
            raise SystemExit(f"{path}: the template has no line {todo!r} (another Polygraphy version?)")
        text = text.replace(todo, code, 1)
    with open(path, "w") as f:
        f.write(text)
    print(f"filled {path}")
