"""No import circle in the Python package (subpackages included).

Every module of python/glance_import_guard is parsed with ``ast`` (nothing
is imported), and every import of another module of the package is an
edge: ``import glance_import_guard.x``, ``from glance_import_guard import
x``, ``from glance_import_guard.x import name``, and the relative forms
``from . import x``, ``from .x import name``. Imports count wherever they
are, at module level or inside a function: a lazy import inside a function
is the usual way a circle hides. An import of a package's name goes to its
``__init__``; the parent packages Python runs first are not edges (else
every package whose ``__init__`` gathers its modules would be a circle).
"""

import ast
import pathlib

PACKAGE = (pathlib.Path(__file__).resolve().parents[2] / "python"
           / "glance_import_guard")


def module_names(package_dir):
    """{dotted module name: path} of every .py under ``package_dir``, and
    of each native module by its stub (``_core.pyi``): a module too, that
    imports nothing of the package."""
    root = package_dir.parent
    names = {}
    stubs = [p for p in package_dir.rglob("*.pyi")
             if not p.with_suffix(".py").exists()]
    for path in sorted(package_dir.rglob("*.py")) + sorted(stubs):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imported(node, module, is_package, modules):
    """The package's modules one import node names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    if node.level:  # relative: from its package, up level - 1
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = package + ("." + node.module if node.module else "")
    else:
        base = node.module
    found = []
    for alias in node.names:
        submodule = "%s.%s" % (base, alias.name)
        if submodule in modules:  # from package import module
            found.append(submodule)
        elif base in modules:  # from module import name
            found.append(base)
    return found


def import_graph(package_dir):
    """{module: {imported module: first line}} of the package."""
    modules = module_names(package_dir)
    graph = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        if path.suffix == ".pyi":
            continue
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in imported(node, module, is_package, modules):
                    if target != module:
                        edges[target] = min(edges.get(target, node.lineno),
                                            node.lineno)
    return graph


def circles(graph):
    """The circles a depth-first walk meets, each as [a, b, ..., a]: a
    module on the walk's path imported again closes one. Whenever the
    graph has a circle, at least one is found."""
    found, done = [], set()

    def walk(module, path):
        for target in sorted(graph[module]):
            if target in path:
                found.append(path[path.index(target):] + [target])
            elif target not in done:
                walk(target, path + [target])
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            walk(module, [module])
    return found


def describe(graph, circle, package_dir):
    modules = module_names(package_dir)
    root = package_dir.parent.parent
    return " -> ".join(circle) + " (" + ", ".join(
        "%s:%d imports %s" % (modules[a].relative_to(root), graph[a][b], b)
        for a, b in zip(circle, circle[1:])) + ")"


def test_no_import_circle_in_the_package():
    graph = import_graph(PACKAGE)
    assert len(graph) > 20 and "glance_import_guard.doors.checks" in graph
    found = [describe(graph, c, PACKAGE) for c in circles(graph)]
    assert found == [], "import circles:\n" + "\n".join(found)


def write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "glance_import_guard"


def test_a_lazy_import_inside_a_function_closes_a_circle(tmp_path):
    package = write(tmp_path, {
        "glance_import_guard/__init__.py": "",
        "glance_import_guard/a.py": "from glance_import_guard import b\n",
        "glance_import_guard/b.py": "def f():\n"
                                    "    import glance_import_guard.a\n",
    })
    assert circles(import_graph(package)) == [
        ["glance_import_guard.a", "glance_import_guard.b",
         "glance_import_guard.a"]]


def test_relative_imports_in_a_subpackage_close_a_circle(tmp_path):
    package = write(tmp_path, {
        "glance_import_guard/__init__.py": "",
        "glance_import_guard/opts.py": "",
        "glance_import_guard/sub/__init__.py": "from .rows import rows\n",
        "glance_import_guard/sub/rows.py": "from .. import opts\n"
                                           "from . import CLOSED\n",
    })
    graph = import_graph(package)
    assert graph["glance_import_guard.sub.rows"] == {
        "glance_import_guard.opts": 1, "glance_import_guard.sub": 2}
    assert circles(graph) == [
        ["glance_import_guard.sub", "glance_import_guard.sub.rows",
         "glance_import_guard.sub"]]


def test_a_native_module_is_a_module_not_its_package(tmp_path):
    package = write(tmp_path, {
        "glance_import_guard/__init__.py": "from glance_import_guard import "
                                           "opts\n",
        "glance_import_guard/_core.pyi": "import glance_import_guard\n",
        "glance_import_guard/opts.py": "from glance_import_guard import "
                                       "_core\n",
    })
    graph = import_graph(package)
    assert graph["glance_import_guard.opts"] == {
        "glance_import_guard._core": 1}
    assert circles(graph) == []


def test_a_package_gathering_its_modules_is_no_circle(tmp_path):
    package = write(tmp_path, {
        "glance_import_guard/__init__.py": "",
        "glance_import_guard/sub/__init__.py":
            "from glance_import_guard.sub.rows import rows\n",
        "glance_import_guard/sub/rows.py":
            "from glance_import_guard.sub.model import Row\n",
        "glance_import_guard/sub/model.py": "",
    })
    assert circles(import_graph(package)) == []
