"""Compute one reference script's expected outputs on the CPU: `python3 reference_runner.py SCRIPT OUT.npz`.

It imports the script (nothing runs at import time: the examples keep their work in main()) and calls
`reference(make_inputs())`. Where tensorrt or cuda-python are not installed (CI), they are replaced by inert
stand-ins, so that `import tensorrt as trt` and `class MyLogger(trt.ILogger)` at module level still import;
the reference computation itself must not touch them.
"""
import importlib
import importlib.util
import sys
from pathlib import Path
from unittest import mock

import numpy as np

STUBBABLE = ("tensorrt", "cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.bindings.driver",
             "cuda.cudart", "cuda.cuda")


class _Stub(mock.MagicMock):
    def __mro_entries__(self, bases):  # usable as a base class: `class Calibrator(trt.IInt8EntropyCalibrator2)`
        return (object,)


def install_stubs():
    for name in STUBBABLE:
        try:
            importlib.import_module(name)
        except Exception:
            sys.modules[name] = _Stub(name=name)


def compute(script):
    script = Path(script).resolve()
    sys.path.insert(0, str(script.parent))
    install_stubs()
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.reference(module.make_inputs())
    if not isinstance(result, dict) or not result:
        raise TypeError(f"{script.name}: reference() must return a non-empty dict of numpy arrays")
    for key, value in result.items():
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{script.name}: reference()[{key!r}] is {type(value).__name__}, not a numpy array")
    return result


if __name__ == "__main__":
    np.savez(sys.argv[2], **compute(sys.argv[1]))
