"""Make lm-eval 0.4.13 find llm-kick's tasks and models with no extra flags.

Why our own code: lm-eval 0.4.13 loads no plugins. External tasks come only through
``--include_path`` and external models only once their module has been imported. Upstream adds
entry-point discovery (EleutherAI/lm-evaluation-harness #4013 for models, #4015 for task
folders) and ``pyproject.toml`` declares both entry points, but no released lm-eval reads them.

``llm_kick_lm_eval_bridge.pth`` (installed into site-packages) imports this module at
interpreter start. :func:`install` only puts a finder on ``sys.meta_path``; it imports
nothing, so programs that never import lm-eval pay nothing. When a program imports lm-eval:

* after ``lm_eval.models`` runs, ``kick`` is registered in lm-eval's model registry as the
  lazy placeholder ``kick_models.kick_lm:KickLM`` (torch and llmcompressor load only when
  ``--model kick`` is asked for);
* after ``lm_eval.tasks.manager`` runs, every ``TaskManager`` that indexes the built-in tasks
  (``include_defaults=True``) also indexes the ``kick_tasks`` folder, right after the built-in
  folder and before any ``--include_path`` (so a user's folder still wins on a name clash).

Set ``LLM_KICK_NO_BRIDGE=1`` to switch it off; ``--include_path <site-packages>/kick_tasks``
and ``import kick_models.kick_lm`` remain the documented manual route.
"""

from __future__ import annotations

import os
import sys

MODEL_NAME = "kick"
MODEL_TARGET = "kick_models.kick_lm:KickLM"


def task_dir() -> str:
    """The folder of the ``kick_tasks`` package, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("kick_tasks")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("llm-kick is installed without its kick_tasks package")
    return list(spec.submodule_search_locations)[0]


def register_model(models_module) -> None:
    """Register ``kick`` lazily, unless lm-eval already knows it (e.g. from an entry point)."""
    from lm_eval.api.registry import model_registry

    if MODEL_NAME not in model_registry:
        model_registry.register(MODEL_NAME, target=MODEL_TARGET)


def patch_task_manager(manager_module) -> None:
    """Make ``TaskManager`` index the kick task folder beside the built-in tasks."""
    import functools
    import inspect

    cls = manager_module.TaskManager
    original = cls.__init__
    if getattr(original, "_llm_kick", False):
        return
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        if bound.arguments.get("include_defaults", True):
            user_paths = bound.arguments.get("include_path") or []
            if not isinstance(user_paths, (list, tuple)):
                user_paths = [user_paths]
            ours = task_dir()
            if all(os.path.abspath(str(p)) != ours for p in user_paths):
                bound.arguments["include_path"] = [ours, *user_paths]
        original(*bound.args, **bound.kwargs)

    __init__._llm_kick = True
    cls.__init__ = __init__


HOOKS = {"lm_eval.models": register_model, "lm_eval.tasks.manager": patch_task_manager}


class _PatchAfterExec:
    """Loader that runs the wrapped loader, then the hook on the fresh module."""

    def __init__(self, loader, hook):
        self._loader = loader
        self._hook = hook

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._hook(module)

    def __getattr__(self, name):  # get_source, get_resource_reader, ...
        return getattr(self._loader, name)


class _LmEvalFinder:
    """Meta-path finder that answers only for the modules in :data:`HOOKS`."""

    def find_spec(self, fullname, path=None, target=None):
        hook = HOOKS.get(fullname)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchAfterExec(spec.loader, hook)
                return spec
        return None


def install() -> None:
    """Put the finder on ``sys.meta_path`` (idempotent; no-op with LLM_KICK_NO_BRIDGE=1)."""
    if os.environ.get("LLM_KICK_NO_BRIDGE", "") not in ("", "0"):
        return
    if any(isinstance(f, _LmEvalFinder) for f in sys.meta_path):
        return
    for name, hook in HOOKS.items():  # lm-eval imported before us: patch in place
        if name in sys.modules:
            hook(sys.modules[name])
    sys.meta_path.insert(0, _LmEvalFinder())
