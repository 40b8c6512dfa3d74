"""The house: stage packages in pipeline order, no import cycle (function-local imports counted), no test hooks."""
from __future__ import annotations

import ast
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
