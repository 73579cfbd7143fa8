"""The shape of the project, held in place: one vocabulary of problem
codes (the core's) that the stub and the README repeat exactly; a Rust core
with no PyO3 outside the bindings and no import circle; no module over
~400 lines."""

import ast
import pathlib
import re

from glance_import_guard import _core

ROOT = pathlib.Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = ROOT / "python" / "glance_import_guard"
MAX_LINES = 400


def stub_codes():
    tree = ast.parse((PACKAGE / "_core.pyi").read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign)
                and node.targets[0].id == "ProblemCode"):
            return [e.value for e in node.value.slice.elts]
    raise AssertionError("no ProblemCode in _core.pyi")


def readme_codes():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("Every reason has a stable code"):]
    section = section[:section.index("\n\n")]
    return re.findall(r"`([a-z-]+)`", section)


def test_stub_and_readme_list_exactly_the_cores_problem_codes():
    codes = _core.problem_codes()
    assert len(codes) == len(set(codes)) > 20
    assert stub_codes() == codes
    assert readme_codes() == codes


def test_every_code_can_be_made_and_nothing_else():
    for code in _core.problem_codes():
        assert _core.problem(code, "m")["code"] == code


def core_modules():
    """{module path: text} of the core, tests excluded."""
    return {p.relative_to(SRC).with_suffix("").as_posix(): p.read_text()
            for p in SRC.rglob("*.rs")
            if "tests" not in p.relative_to(SRC).parts
            and p.name != "tests.rs"}


def test_no_pyo3_outside_the_bindings():
    for name, text in core_modules().items():
        if name.split("/")[0] != "python":
            assert "pyo3" not in text, name


def reexports():
    """{name: module} of lib.rs's ``pub use module::{names}``."""
    names = {}
    lib = (SRC / "lib.rs").read_text()
    for module, items in re.findall(r"pub use (\w+)::\{?([^;}]*)", lib):
        for item in re.findall(r"\w+", items):
            names[item] = module
    return names


def test_no_import_circle_in_the_core():
    top = {n.split("/")[0] for n in core_modules()}
    aliases = reexports()
    graph = {}
    for name, text in core_modules().items():
        module = name.split("/")[0]
        used = {aliases.get(m, m)
                for m in re.findall(r"crate::(\w+)", text)}
        graph.setdefault(module, set()).update(
            m for m in used if m in top and m != module)
    graph.pop("lib", None)
    graph.pop("python", None)  # the bindings use everything, nothing uses them

    def reach(start, node, seen):
        for nxt in graph.get(node, ()):
            if nxt == start:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reach(start, nxt, seen):
                    return True
        return False

    circles = [m for m in graph if reach(m, m, set())]
    assert circles == [], graph


def test_no_module_over_400_lines():
    files = list(SRC.rglob("*.rs")) + list(PACKAGE.rglob("*.py"))
    long = {str(p.relative_to(ROOT)): n for p in files
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
