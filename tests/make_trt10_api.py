#!/usr/bin/env python3
"""Write tests/trt10_api.txt: TensorRT 10's Python API (from the type stubs on PyPI) and what 8.6.0 had that it lacks.

    pip download --no-deps tensorrt-stubs==10.13.0.35.1 -d /tmp/stubs
    python3 tests/make_trt10_api.py /tmp/stubs/tensorrt_stubs-10.13.0.35.1-py3-none-any.whl [LISTING_8_6]

The stubs (made by pybind11-stubgen from the real bindings) hold every class, method, property and enum value of
`import tensorrt` 10.x, with NVIDIA's docstrings, which mark what is deprecated ("[DEPRECATED] Deprecated in
TensorRT 10.x. ..."). LISTING_8_6 is the `dir()` listing of the 8.6.0 bindings (default:
tests/tensorrt-8.6.0-python-api.txt, else ../shared/gpu/tensorrt-8.6.0-python-api.txt). Lines of the output:
    # tensorrt-stubs <version> ...   the first line: the stubs' version
    class Name(Base, ...)            a class (nested ones as Outer.Inner) and its bases
      Name.member                    a method, property or enum value defined in that class (inherited ones are
                                     not repeated: follow the bases)
      Name.member -> Class           ... whose value is an object of that TensorRT class (used to follow
                                     `network = builder.create_network()`, `layer = network.add_xxx()`)
    name                             a module-level name (functions, DataType aliases such as float32)
    - Name / - Name.member           a class or member of TensorRT 8.6.0 that 10.x does not have
Any entry may end with ` ! <NVIDIA's deprecation note>`. tests/trt10_check.py reads this file; nothing is downloaded.
"""
import ast
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "trt10_api.txt"
LISTINGS_8_6 = [HERE / "tensorrt-8.6.0-python-api.txt", HERE.parent.parent / "shared/gpu/tensorrt-8.6.0-python-api.txt"]
DEPRECATED = re.compile(r"(?<!\()\[DEPRECATED\]\s*(.*?)(?:\n\s*\n|\Z)", re.S)  # not "(use X ([DEPRECATED] ...)"
NOTE_START = ("Deprecated", "Superseded", "Please", "Ignored", "See")


def deprecation(text):
    """NVIDIA's deprecation note in a docstring fragment (its first sentences), or None."""
    match = DEPRECATED.search(text or "")
    if not match:
        return None
    sentences = re.split(r"(?<=[.;])\s+", " ".join(match.group(1).split()))
    if sentences[0].startswith(NOTE_START):
        kept = sentences[:1] + [s for s in sentences[1:2] if s.startswith(NOTE_START[1:])]
    else:
        kept = sentences[:3]
    return " ".join(kept).rstrip(")") or "Deprecated."


def docstring_parts(doc):
    """(the class's own description, {enum value, :ivar or example-method name: its text})."""
    doc = doc or ""
    head = re.split(r"\n\s*(?:Members:|:ivar )", doc, maxsplit=1)[0]
    parts = {}
    members = doc.split("Members:", 1)[1] if "Members:" in doc else ""
    for m in re.finditer(r"^\s{2,8}([A-Z][A-Z0-9_]*) :(.*?)(?=^\s{2,8}[A-Z][A-Z0-9_]* :|\Z)", members, re.M | re.S):
        parts[m.group(1)] = m.group(2)
    for m in re.finditer(r":ivar (\w+):(.*)", doc):
        parts[m.group(1)] = m.group(2)
    for m in re.finditer(r"^\s+def (\w+)\(", doc, re.M):  # methods of an interface a Python subclass implements
        parts.setdefault(m.group(1), "")
    return head, parts


def dotted(node):
    """'A.B' for a Name/Attribute chain (without the stubs' module prefix), else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id] + parts[::-1]).replace("tensorrt_bindings.tensorrt.", "")


def value_class(annotation, classes):
    name = dotted(annotation)
    return name if name in classes else None


def class_lines(node, classes, prefix=""):
    """Lines for one ClassDef and its nested classes."""
    name = prefix + node.name
    bases = [dotted(b) for b in node.bases]
    head, parts = docstring_parts(ast.get_docstring(node, clean=False))
    members = {}   # member -> [value class or None, deprecation note or None]
    nested = []
    for item in node.body:
        if isinstance(item, ast.ClassDef):
            members[item.name] = [None, deprecation(docstring_parts(ast.get_docstring(item, clean=False))[0])]
            nested.append(item)
        elif isinstance(item, ast.FunctionDef):
            entry = members.setdefault(item.name, [None, None])
            entry[0] = entry[0] or value_class(item.returns, classes)
            entry[1] = entry[1] or deprecation(ast.get_docstring(item, clean=False))  # any overload says so
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            members.setdefault(item.target.id, [value_class(item.annotation, classes), None])
    for key, text in parts.items():   # documented members the stubs do not declare, and enum values' notes
        if key in members or re.fullmatch(r"[a-z_][a-z0-9_]*", key):
            entry = members.setdefault(key, [None, None])
            entry[1] = entry[1] or deprecation(text)
    lines = [f"class {name}" + (f"({', '.join(bases)})" if bases else "") + suffix(None, deprecation(head))]
    for member, (value, note) in sorted(members.items()):
        if not (member.startswith("__") and member.endswith("__")):
            lines.append(f"  {name}.{member}{suffix(value, note)}")
    for item in nested:
        lines += class_lines(item, classes, name + ".")
    return lines


def suffix(value, note):
    return (f" -> {value}" if value else "") + (f" ! {note}" if note else "")


def read_listing_8_6(path):
    """{class: set of members (inherited ones included)}, set of module-level functions and DataType aliases."""
    classes, module = {}, set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("class "):
            classes[line.split()[1]] = set()
        elif re.fullmatch(r"  \w+\.\w+", line):
            owner, member = line.strip().split(".")
            classes[owner].add(member)
        elif re.fullmatch(r"(builtin_function_or_method|DataType) \w+", line):
            module.add(line.split()[1])
    return classes, module


def removed_lines(lines, listing):
    """`- X` / `- X.m` for what the 8.6.0 listing has and the 10.x lines do not (members checked with bases)."""
    bases, members, module = {}, {}, set()
    for line in lines[1:]:
        entry = line.split(" ! ")[0].split(" -> ")[0]
        if entry.startswith("class "):
            m = re.match(r"class ([\w.]+)(?:\((.*)\))?", entry)
            bases[m.group(1)] = [b.strip() for b in (m.group(2) or "").split(",") if b.strip()]
            members[m.group(1)] = set()
        elif entry.startswith("  "):
            owner, member = entry.strip().rsplit(".", 1)
            members[owner].add(member)
        else:
            module.add(entry)

    def all_members(name):
        return members.get(name, set()).union(*[all_members(b) for b in bases.get(name, [])])

    classes_8_6, module_8_6 = read_listing_8_6(listing)
    out = [f"- {c}" for c in sorted(classes_8_6) if c not in members]
    for c in sorted(set(classes_8_6) & set(members)):
        out += [f"- {c}.{m}" for m in sorted(classes_8_6[c] - all_members(c)) if not m.startswith("__")]
    return out + [f"- {n}" for n in sorted(module_8_6 - module)]


def generate(wheel, listing):
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA")).split("/")[0]
        bindings = archive.read("tensorrt_bindings/tensorrt.pyi").decode("utf-8").replace("\r\n", "\n")
        package = archive.read("tensorrt/__init__.pyi").decode("utf-8").replace("\r\n", "\n")
    version = info.replace(".dist-info", "").split("-", 1)[1]
    trt_version = re.search(r"__version__: str = '([^']+)'", package).group(1)
    # Argument lists are not needed, and a few in the stubs are not valid Python (a default before a non-default).
    bindings = re.sub(r"^(\s*def \w+)\(.*\)(\s*->\s*[^()]*)?:\s*$", r"\1(*args)\2:", bindings, flags=re.M)
    tree = ast.parse(bindings)
    classes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            classes.update({node.name} | {f"{node.name}.{n.name}" for n in node.body if isinstance(n, ast.ClassDef)})
    lines = [f"# tensorrt-stubs {version} (TensorRT {trt_version}): TensorRT 10's Python API, and (lines '- ') what "
             f"TensorRT 8.6.0 has that it lacks; written by tests/make_trt10_api.py, format in its docstring"]
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            lines += class_lines(node, classes)
    module = ast.parse(package)
    imported_modules = {a.asname or a.name for n in module.body if isinstance(n, ast.Import) for a in n.names}
    names = set()
    for node in module.body:
        if isinstance(node, ast.ImportFrom) and node.module in ("tensorrt_bindings", "tensorrt_bindings.tensorrt"):
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    # attr, value: loop variables left in the stubbed module's namespace, not API
    lines += sorted(names - classes - imported_modules - {"attr", "value", "tensorrt"})
    return "\n".join(lines + removed_lines(lines, listing)) + "\n"


def main(argv):
    if len(argv) not in (2, 3) or not argv[1].endswith(".whl"):
        sys.exit(__doc__)
    listing = Path(argv[2]) if len(argv) == 3 else next((p for p in LISTINGS_8_6 if p.is_file()), None)
    if listing is None or not listing.is_file():
        sys.exit(f"TensorRT 8.6.0 listing not found (looked for {[str(p) for p in LISTINGS_8_6]})")
    OUTPUT.write_text(generate(argv[1], listing), encoding="utf-8")
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes, from {Path(argv[1]).name} and {listing.name})")


if __name__ == "__main__":
    main(sys.argv)
