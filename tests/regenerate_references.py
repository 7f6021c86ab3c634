#!/usr/bin/env python3
"""Write the stored references `X.reference.npz` of examples from their own reference computation (CPU only).

    python3 tests/regenerate_references.py                    # every example
    python3 tests/regenerate_references.py 02-API/Logger ...  # some examples

Each script runs in a temporary copy of its example folder, so nothing but the .npz lands in the repository.
"""
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from examples import ROOT, find_examples, reference_scripts  # noqa: E402
from referencing import compute_in_copy  # noqa: E402


def main(args):
    targets = [Path(a).resolve().relative_to(ROOT) for a in args] if args else find_examples()
    failed = 0
    for example in targets:
        for stem in reference_scripts(ROOT / example):
            try:
                computed = compute_in_copy(ROOT / example, stem)
            except RuntimeError as error:
                print(f"FAILED {example}/{stem}.py\n{error}")
                failed += 1
                continue
            shutil.copyfile(computed, ROOT / example / f"{stem}.reference.npz")
            print(f"wrote {example}/{stem}.reference.npz")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
