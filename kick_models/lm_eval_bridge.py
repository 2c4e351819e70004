"""Make lm-eval 0.4.13 find llm-kick's tasks and models with no extra flags.

Why our own code: lm-eval 0.4.13 loads no plugins. External tasks come only through
``--include_path`` and external models only once their module has been imported. Upstream adds
entry-point discovery (EleutherAI/lm-evaluation-harness #4013 for models, #4015 for task
folders) and ``pyproject.toml`` declares both entry points; 0.4.13 reads neither, a later 0.4.x
release (allowed by our pin) may, and then the bridge steps aside (below).

``llm_kick_lm_eval_bridge.pth`` (installed into site-packages) imports this module at
interpreter start. :func:`install` only puts a finder on ``sys.meta_path``; it imports
nothing, so programs that never import lm-eval pay nothing. When a program imports lm-eval:

* after ``lm_eval.models`` runs, ``kick`` and ``kick_vllm`` are registered in lm-eval's model
  registry as the lazy placeholders ``kick_models.kick_lm:KickLM`` and
  ``kick_models.kick_vllm:KickVLLM`` (torch, llmcompressor and vLLM load only when that model
  is asked for), unless lm-eval registered them already from our entry points;
* after ``lm_eval.tasks.manager`` runs, every index of the built-in tasks
  (``TaskManager(include_defaults=True)``) also indexes the ``kick_tasks`` folder, right after
  the built-in folder and before any ``--include_path`` (so a user's folder still wins on a
  name clash), unless lm-eval already indexes that folder in the same pass (its own entry
  point reading, or ``--include_path``). ``TaskManager``'s arguments and attributes are left
  as the user passed them.

Set ``LLM_KICK_NO_BRIDGE=1`` to switch it off; ``--include_path <site-packages>/kick_tasks``
and ``import kick_models.kick_lm`` (or ``kick_vllm``) remain the documented manual route.
"""

from __future__ import annotations

import functools
import os
import sys

MODELS = {"kick": "kick_models.kick_lm:KickLM", "kick_vllm": "kick_models.kick_vllm:KickVLLM"}


def task_dir() -> str:
    """The folder of the ``kick_tasks`` package, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("kick_tasks")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("llm-kick is installed without its kick_tasks package")
    return list(spec.submodule_search_locations)[0]


def register_model(models_module) -> None:
    """Register our models lazily, unless lm-eval already knows them (e.g. from an entry point)."""
    from lm_eval.api.registry import model_registry

    for name, target in MODELS.items():
        if name not in model_registry:
            model_registry.register(name, target=target)


def patch_task_manager(manager_module) -> None:
    """Make every index of lm-eval's built-in tasks also index the kick task folder.

    The hook sits on ``TaskIndex.build`` (the one call through which ``TaskManager`` indexes
    its folders), not on ``TaskManager``'s arguments, so ``TaskManager.include_path`` stays
    what the user passed. When lm-eval already indexes our folder in that pass, because it
    reads the ``lm_eval.tasks`` entry point itself (#4015) or the user named it in
    ``--include_path``, the bridge adds nothing: each kick task is indexed once and no
    'overrides existing task' warning is logged."""
    index_cls = manager_module.TaskIndex
    original = index_cls.build
    if getattr(original, "_llm_kick", False):
        return
    builtin = os.path.realpath(os.path.dirname(manager_module.__file__))

    @functools.wraps(original)
    def build(paths, *args, **kwargs):
        paths = list(paths)
        folders = [os.path.realpath(p) for p in paths]
        ours = os.path.realpath(task_dir())
        if builtin in folders and ours not in folders:
            from pathlib import Path

            paths.insert(folders.index(builtin) + 1, Path(ours))
        return original(paths, *args, **kwargs)

    build._llm_kick = True
    index_cls.build = staticmethod(build)


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
