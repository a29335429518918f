"""The packages of tunesmith import downward only: a layer may import the layers below it, never one above.

Every import of a tunesmith module counts, at module level or inside a function, so a function-level import cannot
hide a cycle. The order is docs/architecture.md's; a new package must be placed in it (the test says so)."""

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "tunesmith"

# Bottom to top. A unit is a subpackage or a top-level module of tunesmith.
LAYERS = [
    "errors", "quiet", "config", "hardware", "runs",  # foundations: no model, no data
    "metrics",  # metric functions over plain lists
    "models",  # choose and load a model, load saved weights
    "data",  # load → validate → clean → dedup → split → tokenize
    "inference",  # generation with the training chat template
    "fast",  # accelerations of the training path
    "methods",  # which parameters train
    "objectives",  # what the model learns, and every fact about it
    "evaluate",  # did it help, what did it cost
    "plan",  # the memory a run needs
    "training",  # train(): prepare → fit → finish
    "export", "serve",  # deploy
    "importing",  # jobs from other tools as tunesmith configs
    "sweep", "continual", "federated", "quickstart", "studio",  # many runs, task sequences, federations, the example, the web app
    "cli", "__main__", "__init__",
]


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = SOURCE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def internal_imports(path: Path):
    """(line, imported module, inside a function) for every `tunesmith` import in the file."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("tunesmith"):
                # `from package import module` imports the module; `from module import name` the module itself
                modules = [f"{child.module}.{a.name}" for a in child.names if is_module(f"{child.module}.{a.name}")]
                found.extend((child.lineno, target, in_function) for target in modules or [child.module])
            elif isinstance(child, ast.Import):
                found.extend((child.lineno, a.name, in_function) for a in child.names if a.name.startswith("tunesmith"))
            visit(child, nested)

    visit(tree, False)
    return found


def all_imports():
    for path in sorted(SOURCE.rglob("*.py")):
        for line, target, in_function in internal_imports(path):
            yield module_name(path), line, target, in_function


def test_every_package_has_a_layer():
    units = {unit(module_name(p)) for p in SOURCE.rglob("*.py")}
    assert units <= set(LAYERS), f"place {sorted(units - set(LAYERS))} in LAYERS and in docs/architecture.md"


def test_imports_go_downward_only():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = [f"{source}:{line} imports {target} ({unit(source)} is below {unit(target)})"
              for source, line, target, _ in all_imports()
              if unit(source) != unit(target) and rank[unit(source)] < rank[unit(target)]]
    assert not upward, "\n".join(upward)


def test_no_import_cycle_between_modules():
    """Within a package too: module A imports B (anywhere in A) and B imports A is a cycle."""
    graph: dict[str, set[str]] = {}
    for source, _, target, _ in all_imports():
        graph.setdefault(source, set()).add(target)
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def _find_cycle(graph: dict[str, set[str]]):
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def walk(node, path):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := walk(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := walk(start, [start])):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert _find_cycle({"x": {"y"}, "y": {"z"}, "z": {"x"}}) == ["x", "y", "z", "x"]
    assert _find_cycle({"x": {"y"}, "y": {"z"}}) is None
