"""The method registry: every method of compressors.recipe.METHODS has the module that applies
it in compressors.engines.ENGINES (dense none), the recipe stays light, and the imports inside
compressors/ form no cycle (the runner imports no method module)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from compressors.engines import ENGINES
from compressors.recipe import METHODS

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_has_its_engine(method):
    spec = METHODS[method]
    if method == "dense":
        assert method not in ENGINES and not spec.prunes and spec.quant is None
        return
    assert spec.prunes != (spec.quant is not None), "a method either prunes or quantizes"
    entry = "prune" if spec.prunes else "quantize"
    assert callable(getattr(ENGINES[method], entry)), f"{ENGINES[method].__name__} has no {entry}()"


def test_engines_name_only_registered_methods():
    assert set(ENGINES) <= set(METHODS)


def test_the_recipe_imports_neither_torch_nor_llmcompressor_and_the_engines_no_llmcompressor():
    code = (
        "import sys\n"
        "import compressors.recipe\n"
        "print(sorted(m for m in ('torch', 'llmcompressor') if m in sys.modules))\n"
        "import compressors.engines, compressors.api\n"
        "print('llmcompressor' in sys.modules)\n"
    )
    child = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split() == ["[]", "False"]


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The modules of ``modules`` that ``path`` imports anywhere (functions included); ``from
    package import submodule`` is an import of the submodule."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= (names & modules) or {node.module}
    return found & modules


def test_no_import_cycle_in_compressors():
    modules = {}
    for path in (REPO / "compressors").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}

    def cycle_from(start, node, seen):
        for nxt in graph[node]:
            if nxt == start:
                return [node, nxt]
            if nxt not in seen:
                seen.add(nxt)
                found = cycle_from(start, nxt, seen)
                if found:
                    return [node, *found]
        return None

    for name in sorted(graph):
        cycle = cycle_from(name, name, {name})
        assert cycle is None, " -> ".join(cycle)
    assert not any(m.startswith(("compressors.pruning.", "compressors.quantization.")) and m != "compressors.zeros"
                   for m in graph["compressors.llmcompressor_adapter"])
