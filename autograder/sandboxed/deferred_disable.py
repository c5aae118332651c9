"""Forbidden built-ins of a package that is not loaded yet are disabled the moment it is imported.

Why: ``runner.disable_builtins`` resolves a path by importing its module. A lab lists the
equivalents of every backend (``torch.nn.functional.conv2d`` next to ``tensorflow.nn.conv2d``), and
importing PyTorch or JAX into every job on the TensorFlow backend would cost seconds and memory
for nothing. So the paths of a top-level package that is not in ``sys.modules`` when the job
starts are kept pending, and an import hook disables them right after the package is imported,
whoever imports it and however (``import torch`` in a function body, ``__import__(name)``,
``importlib.import_module``): every route ends in the import system's search of ``sys.meta_path``.

The hook is a finder placed first in ``sys.meta_path``. It answers only for the pending top-level
names, finds the real spec through the finders after it, and wraps that spec's loader's
``exec_module`` (on the loader instance, so ``module.__loader__`` stays the real loader): once the
package has run, its pending paths are disabled, then the wrapper removes itself.

Tampering: the finder is a class whose state lives in closures over immutable values; the
runner protects it, its functions and its place at the front of ``sys.meta_path`` with the
integrity snapshot (``integrity.Snapshot.protect(finders=...)``), so removing or shadowing it is
undone and reported after the cell. ``catch_up`` disables the paths of any pending package that got
loaded past the hook anyway (a finder of the student's own placed before it); the runner calls it
after every cell and probe, before the next probe runs.
"""

import sys
import types


def split_by_loaded(paths, modules=None):
    """(paths whose top-level package is loaded, {top-level package: (its paths, ...)} for the others)."""
    modules = sys.modules if modules is None else modules
    now, pending = [], {}
    for path in paths:
        top = path.split(".", 1)[0]
        if top in modules:
            now.append(path)
        else:
            pending.setdefault(top, []).append(path)
    return now, {top: tuple(group) for top, group in pending.items()}


def install(pending, disable, is_disabled, meta_path=None):
    """Put a finder first in ``meta_path`` (default ``sys.meta_path``) that runs ``disable(paths)`` right
    after a pending package is imported. Returns (the finder, the functions to protect, catch_up).

    ``pending`` maps top-level package names to their paths (``split_by_loaded``).
    ``is_disabled(path)`` tells whether a path is disabled already (or does not resolve): ``catch_up()``
    disables, for every pending package loaded by now, the paths that are not, and returns the names of
    those packages. It decides from the built-ins themselves, not from the hook's own records, so state
    changed by student code cannot make it skip a package.
    """
    meta_path = sys.meta_path if meta_path is None else meta_path
    pending = types.MappingProxyType({top: tuple(paths) for top, paths in pending.items()})
    done = set()  # packages the hook has handled: it does not hook their imports again
    searching = set()

    def disable_package(top):
        paths = [path for path in pending.get(top, ()) if not is_disabled(path)]
        done.add(top)
        if paths:
            disable(paths)
        return bool(paths)

    def find_spec(fullname, path=None, target=None):
        if path is not None or fullname not in pending or fullname in searching or fullname in done:
            return None
        searching.add(fullname)
        try:
            spec = None
            for finder in list(meta_path):
                if finder is DeferredDisabler or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            searching.discard(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module):
            try:
                original(module)
            finally:
                try:
                    del loader.exec_module  # back to the loader's own method
                except AttributeError:
                    pass
            disable_package(fullname)

        try:
            loader.exec_module = exec_module
        except AttributeError:  # a loader without an instance dictionary: catch_up will do it
            return spec
        return spec

    def catch_up():
        return [top for top in list(pending) if top in sys.modules and disable_package(top)]

    DeferredDisabler = type("DeferredDisabler", (), {
        "__doc__": "Disables the forbidden built-ins of " + ", ".join(sorted(pending)) + " once imported.",
        "find_spec": staticmethod(find_spec),
        "invalidate_caches": staticmethod(lambda: None),
    })
    if pending:
        meta_path.insert(0, DeferredDisabler)
    return DeferredDisabler, [find_spec, disable_package, catch_up], catch_up
