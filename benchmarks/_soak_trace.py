"""What grows during the GUI soak: ``benchmarks/gui_soak.py --trace``.

Taken at two points in the same normalised state (see ``Soak.normalise``), the
second after many more random actions: Python allocation sites (``tracemalloc``,
grouped by traceback), Python objects by type (``gc.get_objects``), Qt objects
(children of the application's widgets, top-level widgets), pyqtgraph items, the
C heap as glibc sees it (``mallinfo2``: bytes in use vs free bytes kept in the
arenas), open matplotlib figures and the hooks left on the loaded model.

RSS that grows while ``mallinfo2``'s in-use bytes and the traced Python heap stay
flat is the allocator keeping freed memory (fragmentation), not live objects.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import sys
import tracemalloc
from typing import Any

#: frames kept per traced allocation (``--trace``)
TRACE_FRAMES = 10


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def heap_mb() -> dict[str, float]:
    """glibc's heap figures in MiB: ``in_use`` (allocated and not freed, all arenas),
    ``free_in_arenas`` (freed, still held by the allocator), ``mmapped`` (large blocks
    given their own mapping); empty where ``mallinfo2`` is missing."""
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (AttributeError, OSError):
        return {}
    fn.restype = _MallInfo2
    info = fn()
    mb = 2.0 ** 20
    return {"in_use": (info.uordblks + info.hblkhd) / mb, "free_in_arenas": info.fordblks / mb,
            "mmapped": info.hblkhd / mb, "arena": info.arena / mb}


def rss_parts_mb() -> dict[str, float]:
    """RSS split as the kernel counts it (``/proc/self/status``), in MiB: ``anon``
    (heap, anonymous mappings, stacks: where a leak shows), ``file`` (pages of mapped
    files: libraries and fonts loaded on first use, given back under memory pressure)
    and ``shmem``."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            for key, name in (("RssAnon:", "anon"), ("RssFile:", "file"), ("RssShmem:", "shmem")):
                if line.startswith(key):
                    out[name] = int(line.split()[1]) / 1024
    return out


def mapping_rss_mb() -> collections.Counter:
    """RSS in MiB per mapped file (``/proc/self/smaps``); anonymous mappings by kind:
    ``[heap]`` (glibc's main arena), ``[stack]``, ``[anon 1 MiB]`` (CPython's object
    arenas), ``[anon 64 MiB]`` (glibc's per-thread arenas), ``[anon 8 MiB]`` (thread
    stacks) and ``[anon other]`` (large malloc blocks, library pools)."""
    rss: collections.Counter = collections.Counter()
    name = "[anon other]"
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                if len(head) >= 6:
                    name = head[5]
                else:
                    lo, hi = (int(v, 16) for v in head[0].split("-"))
                    size = (hi - lo) / 2**20
                    name = {1.0: "[anon 1 MiB]", 64.0: "[anon 64 MiB]",
                            8.0: "[anon 8 MiB]"}.get(size, "[anon other]")
            elif head[0] == "Rss:":
                rss[name] += int(head[1]) / 1024
    return rss


def start() -> None:
    tracemalloc.start(TRACE_FRAMES)


def _object_counts() -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        counts[f"{kind.__module__}.{kind.__qualname__}"] += 1
    return counts


def _qt_counts() -> dict[str, int]:
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance()
    tops = QtWidgets.QApplication.topLevelWidgets()
    n_children = sum(len(w.findChildren(QtWidgets.QWidget)) for w in tops)
    counts = {"top_level_widgets": len(tops), "widgets_under_top_levels": n_children,
              "app_children": len(app.children()) if app is not None else 0}
    return counts


def _pg_counts() -> dict[str, int]:
    import pyqtgraph as pg

    counts: collections.Counter = collections.Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        if issubclass(kind, pg.GraphicsItem) or issubclass(kind, pg.GraphicsView):
            counts[kind.__name__] += 1
    return dict(counts)


def _other_counts(window: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    plt = sys.modules.get("matplotlib.pyplot")
    out["matplotlib_figures"] = len(plt.get_fignums()) if plt is not None else 0
    model = getattr(getattr(window.session, "model", None), "model", None)
    if model is not None:
        out["torch_hooks"] = sum(len(m._forward_hooks) + len(m._forward_pre_hooks)
                                 + len(m._backward_hooks) for m in model.modules())
    caches: dict[str, Any] = {}
    for name, mod in list(sys.modules.items()):
        if not (name.startswith("eegmi") or name.startswith("app")) or mod is None:
            continue
        for attr, val in list(vars(mod).items()):
            info = getattr(val, "cache_info", None)
            if callable(info):
                caches[f"{name}.{attr}"] = info().currsize
            elif isinstance(val, dict) and attr.isupper() and val:
                caches[f"{name}.{attr}"] = len(val)
    out["module_caches"] = caches
    worker = window.session.worker
    out["worker_handles"] = len(worker._handles)
    out["session_jobs"] = len(window.session._jobs)
    return out


def snapshot(window: Any, rss: float) -> dict[str, Any]:
    gc.collect()
    traced, _peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
    return {
        "rss_mb": rss,
        "heap_mb": heap_mb(),
        "traced_mb": traced / 2 ** 20,
        "tracemalloc": tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None,
        "objects": _object_counts(),
        "qt": _qt_counts(),
        "pyqtgraph": _pg_counts(),
        "other": _other_counts(window),
    }


def _diff_dicts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k in set(a) | set(b):
        va, vb = a.get(k, 0), b.get(k, 0)
        if isinstance(va, dict) or isinstance(vb, dict):
            sub = _diff_dicts(va or {}, vb or {})
            if sub:
                out[k] = sub
        elif va != vb:
            out[k] = [va, vb]
    return out


def compare(a: dict[str, Any], b: dict[str, Any], top: int = 25) -> dict[str, Any]:
    """Growth from snapshot ``a`` to ``b``: figures, the ``top`` allocation sites that
    grew (traceback groups), object types that grew."""
    out: dict[str, Any] = {
        "rss_mb": [round(a["rss_mb"], 1), round(b["rss_mb"], 1)],
        "heap_mb": {k: [round(a["heap_mb"].get(k, 0), 1), round(v, 1)]
                    for k, v in b["heap_mb"].items()},
        "traced_mb": [round(a["traced_mb"], 1), round(b["traced_mb"], 1)],
        "qt": _diff_dicts(a["qt"], b["qt"]),
        "pyqtgraph": _diff_dicts(a["pyqtgraph"], b["pyqtgraph"]),
        "other": _diff_dicts(a["other"], b["other"]),
        "other_end": {k: v for k, v in b["other"].items() if k != "module_caches"},
    }
    grown = b["objects"].copy()
    grown.subtract(a["objects"])
    out["object_growth"] = [[k, n] for k, n in grown.most_common(top) if n > 0]
    if a["tracemalloc"] is not None and b["tracemalloc"] is not None:
        stats = b["tracemalloc"].compare_to(a["tracemalloc"], "traceback")
        sites = []
        for st in stats[:top]:
            if st.size_diff <= 0:
                continue
            frames = [f"{f.filename.split('site-packages/')[-1]}:{f.lineno}" for f in st.traceback]
            sites.append({"kib": round(st.size_diff / 1024, 1), "count": st.count_diff,
                          "traceback": frames})
        out["top_sites"] = sites
    return out
