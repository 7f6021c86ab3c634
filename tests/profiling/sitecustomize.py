"""Where an example's time goes, seen from inside its Python processes (used by the GPU suite, not by readers).

tests/test_examples_gpu.py puts this folder first on PYTHONPATH of an example's command.sh when COOKBOOK_PROFILE_DIR
is set (tests/gpu_background.sh sets it), so that Python loads this file at start-up in every python3 the example
starts. It changes nothing the example does; it only records, into the JSON-lines file COOKBOOK_PROFILE_FILE, one
line per process at its exit: its command line, when tensorrt was imported, every `runpy.run_path` (the script
runner's scripts) and every engine build (`trt.Builder.build_serialized_network` / `build_engine`), each with its
start (seconds after the process started) and duration. tests/profile_report.py sums them per example.
Anything that goes wrong here is swallowed: profiling must never change an example's outcome.
"""
import os
import sys
import time

_FILE = os.environ.get("COOKBOOK_PROFILE_FILE")


def _install():
    import atexit
    import functools
    import importlib.abc
    import importlib.util
    import json
    import runpy

    start = time.monotonic()
    record = {"pid": os.getpid(), "started": round(time.time(), 3), "argv": list(getattr(sys, "orig_argv", sys.argv)),
              "tensorrt_imported": None, "scripts": [], "builds": [], "seconds": None}

    def timed(function, kind, name=None):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            begin = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                label = name if name is not None else (str(args[0]) if args else "?")
                record[kind].append([label, round(begin - start, 3), round(time.monotonic() - begin, 3)])
        return wrapper

    runpy.run_path = timed(runpy.run_path, "scripts")

    def patch_tensorrt(module):
        record["tensorrt_imported"] = round(time.monotonic() - start, 3)
        builder = getattr(module, "Builder", None)
        for method in ("build_serialized_network", "build_engine"):
            if builder is not None and hasattr(builder, method):
                try:
                    setattr(builder, method, timed(getattr(builder, method), "builds", method))
                except (AttributeError, TypeError):
                    pass

    class TensorRTFinder(importlib.abc.MetaPathFinder):
        """Lets `import tensorrt` happen as usual, then wraps the builder's build methods."""
        def find_spec(self, fullname, path=None, target=None):
            if fullname != "tensorrt":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(fullname)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                load = spec.loader.exec_module

                def exec_module(module):
                    load(module)
                    try:
                        patch_tensorrt(module)
                    except Exception:  # noqa: BLE001 (never change the example's outcome)
                        pass
                spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, TensorRTFinder())

    def write():
        record["seconds"] = round(time.monotonic() - start, 3)
        try:
            with open(_FILE, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError:  # an unwritable profile must not add a traceback to the example's output
            pass

    atexit.register(write)


def _chain():
    """Run the sitecustomize.py that this one hides (the next one on sys.path), as Python would have."""
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        candidate = os.path.join(entry or os.getcwd(), "sitecustomize.py")
        if os.path.abspath(os.path.dirname(candidate)) != here and os.path.isfile(candidate):
            with open(candidate, encoding="utf-8") as f:
                exec(compile(f.read(), candidate, "exec"), {"__name__": "sitecustomize", "__file__": candidate})
            return


if _FILE:
    try:
        _install()
    except Exception:  # noqa: BLE001
        pass
_chain()
