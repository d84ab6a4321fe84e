import ast
from pathlib import Path

import yaml
from conftest import REPO


def test_conda_env_pins_the_same_versions_as_the_pip_requirements():
    lines = (REPO / "envs" / "requirements.txt").read_text().splitlines()
    pip_pins = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    env = yaml.safe_load((REPO / "envs" / "environment.yaml").read_text())
    conda_pins = {item for dep in env["dependencies"] if isinstance(dep, dict) for item in dep["pip"]}
    assert pip_pins == conda_pins
    assert "torch==2.14.1" in pip_pins and "torchvision==0.29.1" in pip_pins
    assert all("==" in pin for pin in pip_pins)


def package_imports(package: Path) -> dict[str, set[str]]:
    """Each module of `package` (a folder) and the package modules its import statements name, at its top or inside
    a function (a lazy import is a dependency too)."""
    name, graph = package.name, {}
    for source in sorted(package.glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                inside = node.level == 1 or module.split(".")[0] == name
                parts = module.split(".")[1:] if module.split(".")[0] == name else module.split(".")
                if inside:
                    names |= {parts[0]} if parts and parts[0] else {alias.name for alias in node.names}
            elif isinstance(node, ast.Import):
                names |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith(f"{name}.")}
        graph[source.stem] = {module for module in names if (package / f"{module}.py").is_file()} - {source.stem}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of `graph`: its strongly connected components of more than one module (Tarjan), each sorted."""
    order, low, stack, circles = {}, {}, [], []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for other in graph[module]:
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            component = stack[stack.index(module):]
            del stack[stack.index(module):]
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return circles


def test_the_package_has_no_import_circle(tmp_path):
    circles = import_circles(package_imports(REPO / "workflow" / "lossland"))
    assert circles == [], f"modules that import each other, directly or around a circle: {circles}"
    # the check sees a circle through a lazy import and through `from . import name`
    fake = tmp_path / "pkg"
    fake.mkdir()
    (fake / "a.py").write_text("from .b import x\n")
    (fake / "b.py").write_text("def f():\n    from .c import y\n")
    (fake / "c.py").write_text("from . import a\nimport pkg.d\n")
    (fake / "d.py").write_text("import os\n")
    assert package_imports(fake) == {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert import_circles(package_imports(fake)) == [["a", "b", "c"]]
