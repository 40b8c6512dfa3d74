"""The house: stage packages in pipeline order, no import cycle (function-local imports counted), no test hooks,
and no product module that only the tests or the benchmarks use."""
from __future__ import annotations

import ast
import json
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "vidmask_nb"
# Lower layers never import higher ones: data flows one way, every stage stands on the ones before it.
LAYERS = ("errors", "runfolder", "media", "prompts", "track", "detect", "redact", "review", "run", "notebook", "cli")


def _module(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the vidmask_nb modules it imports anywhere in its source (top level or inside functions)."""
    modules = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps - {"vidmask_nb"}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in sorted(graph[n]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else module
    return LAYERS.index(top)


def test_no_import_cycle_counting_function_local_imports():
    assert _cycle(import_graph()) is None


def test_stages_are_packages_and_import_only_the_stages_before_them():
    graph = import_graph()
    tops = {m.split(".")[1] for m in graph if m.count(".") >= 1}
    assert tops == set(LAYERS), tops ^ set(LAYERS)
    upward = [(m, d) for m, deps in graph.items() if m != "vidmask_nb" for d in deps if _layer(d) > _layer(m)]
    assert not upward, upward
    for pkg in LAYERS:
        if (PKG / pkg).is_dir():
            doc = ast.get_docstring(ast.parse((PKG / pkg / "__init__.py").read_text()))
            assert doc and len(doc) > 80, f"{pkg}/__init__.py says what lives there"


def test_no_function_exists_for_tests():
    for path in PKG.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for word in ("_for_tests", "TEST_CRASH", "_crash"):
            assert word not in text, f"{path.relative_to(PKG.parent)} holds a test hook ({word})"


def entry_modules() -> set[str]:
    """What a user starts from: the package with its curated API (``vidmask_nb._API``), the CLI, and the
    ``vidmask_nb`` imports of every notebook's code cells (the notebooks in the clone or shipped in the package)."""
    init = ast.parse((PKG / "__init__.py").read_text(encoding="utf-8"))
    api = next(ast.literal_eval(node.value) for node in ast.walk(init)
               if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_API" for t in node.targets))
    names = {"vidmask_nb", "vidmask_nb.cli"} | {f"vidmask_nb.{module}" for module in api.values()}
    for nb in sorted({*(PKG.parent / "notebooks").glob("*.ipynb"), *PKG.rglob("*.ipynb")}):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            source = "".join(cell["source"])
            source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    names |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def reachable(graph: dict[str, set[str]], roots: set[str]) -> set[str]:
    """Every module loaded, directly or not, once ``roots`` are (a module loads its parent packages too)."""
    seen: set[str] = set()
    todo = [r for r in roots if r in graph]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += graph[name]
    return seen


# Product modules that only tests or benchmarks still import, each to be moved out or wired in.
ONLY_TESTS_USE: set[str] = set()


def test_every_product_module_is_reachable_from_an_entry_point():
    """Code the product never runs belongs to the tests or the benchmarks (``benchmarks/common.py``), not in the wheel."""
    graph = import_graph()
    unused = set(graph) - reachable(graph, entry_modules())
    assert unused == ONLY_TESTS_USE, f"imported only by tests or benchmarks: {sorted(unused - ONLY_TESTS_USE)}; " \
                                     f"reachable now: {sorted(ONLY_TESTS_USE - unused)}"
