"""GUI latency: a scalp click until every grid on screen is repainted, and decoder repaints during a drag.

Runs offscreen with the paper-size model (bundled E3 when present, else an
untrained paper-size ConvVAE saved to a temporary checkpoint) in the real
workbench window: ``MainWindow`` at the screenshot size with its default dock
layout, embedded synthetic data, settings in a temporary folder.

* ``click``: a real mouse click (``QTest.mouseClick``) on an electrode of the
  scalp map, timed until the forward result has been applied by every panel and
  every image item on screen has been rendered and painted (the scalp map's model
  input, the reconstruction's input/output/difference, every activation mosaic)
  together with the latent markers, all in the window's single backing-store
  repaint.  Only the repaints Qt itself schedules are counted: nothing is forced
  with ``repaint()``.  p50/p95 in ms.  The GUI-thread part alone
  (``forward_ready`` emitted -> painted) is reported separately, wall and CPU:
  on a shared, overloaded machine the wall time mostly measures waiting for a core.
* ``hovered_click``: the same, but the pointer first moves onto the electrode and
  rests there 40 ms, as it does before a person clicks: the workbench computes
  that electrode's forward pass while the pointer rests, so the click only paints.
  ``click`` (no hover: a synthetic click, or a click faster than the worker) is
  the cold path.
* ``drag``: many slider value changes in a row (a mouse drag); decoded images
  repainted per second, and slider events handled per second.

Naive baseline, same run, same forward results: one ImageItem per channel, built
once, then ``setImage`` with auto levels on every update (as anyone would write
it); its drag baseline decodes on the GUI thread and calls ``setImage`` on one
kept item.  ``speedup`` = naive / panel.  The phases run one after the other (the
naive grid's view boxes, shown during the clicks, would be repainted inside every
click's event loop); ``load_average`` is printed at the start and the end.

``reference_forward_ms`` (one forward pass on the main thread, window idle) tells
how fast the machine was during the run: on a shared virtual machine the same
computation can take 40 % longer from one minute to the next.

Usage: ``python benchmarks/gui_latency.py [--quick]`` (``EEGMI_BENCH_CLICKS=N``
sets the number of timed clicks, 120 by default); the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6 import QtCore, QtWidgets  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from app.main import SCREENSHOT_SIZE  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from eegmi.mosaic import as_maps, layer_arrays  # noqa: E402


class NaiveGrids(QtWidgets.QWidget):
    """What anyone would write: one ViewBox + ImageItem per channel, built once, then
    ``setImage`` (auto levels per channel) on every update."""

    def __init__(self) -> None:
        super().__init__()
        lay = QtWidgets.QVBoxLayout(self)
        self.view = pg.GraphicsLayoutWidget()
        lay.addWidget(self.view)
        self.items: dict[str, list[pg.ImageItem]] = {}

    def set_result(self, result) -> None:
        for row, (name, arr) in enumerate(layer_arrays(result).items()):
            maps = as_maps(arr)
            if name not in self.items:  # first update: build the grid of items once
                sub = self.view.addLayout(row=row, col=0)
                self.items[name] = []
                for k in range(len(maps)):
                    vb = sub.addViewBox(row=k // 16, col=k % 16, lockAspect=True)
                    item = pg.ImageItem()
                    vb.addItem(item)
                    self.items[name].append(item)
            for item, m in zip(self.items[name], maps, strict=True):
                item.setImage(m)  # auto levels per channel


def wait_until(cond, signals=(), timeout_s: float = 120.0) -> None:
    """Run the Qt event loop until ``cond()`` holds (checked when one of ``signals`` fires).

    The loop sleeps in C++ between events, as the real application does, so the
    model worker thread is not starved of the GIL by a Python busy-wait; a slow
    poll is only a fallback.
    """
    if cond():
        return
    loop = QtCore.QEventLoop()

    def check(*_args) -> None:
        if cond():
            loop.quit()

    for sig in signals:
        sig.connect(check)
    poll = QtCore.QTimer()
    poll.setInterval(5 if not signals else 100)
    poll.timeout.connect(check)
    poll.start()
    deadline = QtCore.QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    deadline.start(int(timeout_s * 1000))
    loop.exec()
    poll.stop()
    deadline.stop()
    for sig in signals:
        sig.disconnect(check)
    if not cond():
        raise TimeoutError("timed out waiting for the GUI")


def paper_model_path(tmp: Path) -> tuple[str, str]:
    """A model spec for ``Session.set_model``: bundled E3, else an untrained paper-size VAE."""
    from eegmi.training.checkpoint import resolve_model

    try:
        resolve_model("E3")
        return "E3", "bundled E3"
    except Exception:  # noqa: BLE001 - no bundled model in this checkout
        pass
    import torch

    from eegmi.data.preprocess import ClipScaler
    from eegmi.models.config import ModelConfig
    from eegmi.models.vae import build_model
    from eegmi.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model(ModelConfig())
    save_checkpoint(tmp / "untrained", model, {
        "scaler": ClipScaler(lo=-1.0, hi=1.0).to_dict(), "montage": {"name": "biosemi32"},
        "operator": {"size": 40, "method": "cubic"}, "injection": {}})
    return str(tmp / "untrained"), "untrained paper-size ConvVAE"


#: interval between simulated slider events (250 per second, faster than a mouse drag)
DRAG_INTERVAL_MS = 4
#: how long the pointer rests on an electrode before a hovered click (a person's
#: pointer rests longer: aiming at a 15-pixel marker takes a few hundred ms)
HOVER_DWELL_MS = 40


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs) * 1e3, q))


def on_screen_images(window: QtWidgets.QWidget) -> list[tuple[str, pg.ImageItem]]:
    """Every image item the user can see: visible, holding data, inside the shown part of
    a shown view (mosaics scrolled out of the activations dock are not painted)."""
    out = []
    for view in window.findChildren(pg.GraphicsView):
        region = view.viewport().visibleRegion()
        if not view.isVisible() or region.isEmpty():
            continue
        shown = view.mapToScene(region.boundingRect()).boundingRect()
        owner = view.parent()
        while owner is not None and not hasattr(owner, "export_items"):
            owner = owner.parent()
        panel = type(owner).__name__ if owner is not None else type(view).__name__
        for item in view.scene().items():
            if (isinstance(item, pg.ImageItem) and item.isVisible() and item.image is not None
                    and item.sceneBoundingRect().intersects(shown)):
                out.append((panel, item))
    return out


def painted(images: list[tuple[str, pg.ImageItem]]) -> bool:
    """True once every image has been rendered by a paint since its last change.

    ``ImageItem.setImage``/``setLevels`` flag the item for rendering and only its
    ``paint`` renders (and clears the flag), so a cleared flag means the new data
    reached pixels.  The flag is pyqtgraph's own (``_renderRequired``, 0.13-0.14).
    """
    try:
        return not any(item._renderRequired for _panel, item in images)
    except AttributeError as exc:
        raise SystemExit(f"gui_latency: error: this pyqtgraph has no render flag ({exc})") from exc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few clicks and drag steps")
    args = ap.parse_args()
    n_clicks, n_drag = (15, 100) if args.quick else (int(os.environ.get("EEGMI_BENCH_CLICKS", 120)), 600)
    n_naive_clicks = 5 if args.quick else 30

    load_start = list(os.getloadavg())
    print("load average:", load_start, file=sys.stderr)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])  # noqa: F841 (keeps it alive)
    tmp = Path(tempfile.mkdtemp(prefix="eegmi-bench-"))
    settings = QtCore.QSettings(str(tmp / "workbench.ini"), QtCore.QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    session = window.session
    emitted: list[float] = []
    session.forward_ready.connect(lambda _r: emitted.append(time.perf_counter()))
    spec, model_label = paper_model_path(tmp)
    loaded: dict[str, int] = {}
    session.model_changed.connect(lambda: loaded.__setitem__("model", 1))
    session.data_changed.connect(lambda: loaded.__setitem__("data", 1))
    errors: list[str] = []
    session.error.connect(errors.append)
    window.open_data("synthetic")
    window.open_model(spec)
    wait_until(lambda: len(loaded) == 2 or errors, [session.model_changed, session.data_changed,
                                                    session.error])
    if errors:
        raise SystemExit(f"gui_latency: error: {errors[0]}")

    scalp = window.panels["scalp"]
    acts = window.panels["activations"]
    lat = window.panels["latents"]
    # the naive grids exist only in their own phase: shown during the clicks, their
    # thousands of view boxes would be repainted inside every click's event loop
    naive = NaiveGrids()
    naive.resize(900, 900)
    n = session.operator.montage.n_channels
    rng = np.random.default_rng(0)

    cpu_at_emit: list[float] = []
    session.forward_ready.connect(lambda _r: cpu_at_emit.append(time.thread_time()))
    last = [-1]

    images: list[tuple[str, pg.ImageItem]] = []  # what is on screen, found once (not timed)

    def click(hover: bool = False) -> tuple[float, float, float]:
        # a one-hot electrode click, as in seed 000; never the same electrode twice in a
        # row, so every click changes what is drawn
        i = int(rng.integers(n - 1))
        i += i >= last[0] >= 0
        last[0] = i
        pos = scalp.scalp.electrode_pos(i).toPoint()
        if hover:
            # as a hand does: the pointer comes onto the electrode and rests there a
            # moment before the button goes down (not timed)
            move = QMouseEvent(QtCore.QEvent.Type.MouseMove, QtCore.QPointF(pos),
                               QtCore.QPointF(scalp.scalp.mapToGlobal(pos)),
                               QtCore.Qt.MouseButton.NoButton, QtCore.Qt.MouseButton.NoButton,
                               QtCore.Qt.KeyboardModifier.NoModifier)
            QtWidgets.QApplication.sendEvent(scalp.scalp, move)
            # the event loop, as the application runs it (QTest.qWait would keep the
            # GIL, stalling the worker for the whole dwell)
            dwell = QtCore.QEventLoop()
            QtCore.QTimer.singleShot(HOVER_DWELL_MS, dwell.quit)
            dwell.exec()
        emitted.clear()
        t0 = time.perf_counter()
        QTest.mouseClick(scalp.scalp, QtCore.Qt.MouseButton.LeftButton,
                         QtCore.Qt.KeyboardModifier.NoModifier, pos)
        values = np.array(session.values)
        wait_until(lambda: emitted and acts.result is not None and acts.result.values is not None
                   and np.array_equal(acts.result.values, values), [session.forward_ready])
        # the panels have set their images; their repaints are posted events that one
        # pass of the event loop paints (the whole window is one backing store)
        for _ in range(20):
            QtCore.QCoreApplication.processEvents()
            if painted(images):
                break
        else:
            raise SystemExit("gui_latency: error: the grids were not repainted")
        t1 = time.perf_counter()
        if int(np.argmax(values)) != i or np.count_nonzero(values) != 1:
            raise SystemExit(f"gui_latency: error: the click on electrode {i} set {values}")
        return t1 - t0, t1 - emitted[-1], time.thread_time() - cpu_at_emit[-1]

    click()  # the first click leaves dataset mode, which changes what is on screen
    images[:] = on_screen_images(window)
    for _ in range(2):
        click()  # warm up caches / first paint
    grids = sorted({p for p, _ in images})
    n_images = len(images)
    total, gui, gui_cpu, naive_gui, results = [], [], [], [], []
    for _ in range(n_clicks):
        t_total, t_gui, t_cpu = click()
        total.append(t_total)
        gui.append(t_gui)
        gui_cpu.append(t_cpu)
        results.append(acts.result)
    # the same clicks after the pointer has rested on the electrode (what a mouse user
    # does): the forward pass was prefetched while hovering
    hovered, hovered_gui = [], []
    for _ in range(n_clicks):
        t_total, t_gui, _t_cpu = click(hover=True)
        hovered.append(t_total)
        hovered_gui.append(t_gui)
    # the naive grids on the same forward results, in their own phase; the deletion of
    # the items it throws away is part of its cost, so it is flushed inside the timing
    # (it takes seconds per update, so a few updates give its median)
    naive.show()
    naive.set_result(results[0])  # builds its items once (not timed), as the panel has
    naive.repaint()
    QtCore.QCoreApplication.processEvents()
    for result in results[1:n_naive_clicks + 1]:
        t0 = time.perf_counter()
        naive.set_result(result)
        naive.repaint()
        naive_gui.append(time.perf_counter() - t0)
    naive.close()
    QtCore.QCoreApplication.processEvents()

    # drag: slider value changes from a timer (faster than any mouse), decoded latest-wins
    # on the worker; every decoded image that arrives is repainted at once
    decoded = [0]

    def on_decoded(_r) -> None:
        decoded[0] += 1
        lat.view.repaint()

    session.decode_ready.connect(on_decoded)
    slider = lat.sliders[0]
    targets = np.linspace(slider.minimum(), slider.maximum(), n_drag)
    step = [0]

    def next_value() -> None:
        if step[0] < n_drag:
            slider.setValue(float(targets[step[0]]))
            step[0] += 1

    ticker = QtCore.QTimer()
    ticker.setInterval(DRAG_INTERVAL_MS)
    ticker.timeout.connect(next_value)
    t0 = time.perf_counter()
    ticker.start()
    wait_until(lambda: step[0] >= n_drag, [ticker.timeout])
    ticker.stop()
    events_s = time.perf_counter() - t0
    final = lat.z()
    wait_until(lambda: lat.last_decode is not None and np.allclose(lat.last_decode.z, final),
               [session.decode_ready])
    drag_s = time.perf_counter() - t0

    # naive drag: decode synchronously on the GUI thread for every event, new item each time
    inf = session.inference
    nview = pg.GraphicsLayoutWidget()
    nview.resize(400, 400)
    nitem = pg.ImageItem()
    nview.addViewBox(lockAspect=True).addItem(nitem)
    nview.show()
    n_naive = max(10, n_drag // 4)
    import torch

    # torch on one thread, as on the workbench's worker: on a busy 2-core machine torch's
    # default two threads make each decode ten times slower, which is not what is compared
    naive_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    for v in targets[:n_naive]:
        z = final.copy()
        z[0] = v
        nitem.setImage(inf.decode(z).recon)
        nview.repaint()
    naive_rate = n_naive / (time.perf_counter() - t0)
    torch.set_num_threads(naive_threads)
    rate = decoded[0] / drag_s

    # the machine's speed during this run, to compare runs: this CPU's single-thread
    # speed drifts by tens of percent from minute to minute.  One forward pass of the
    # model on this thread (torch limited to one thread, as on the worker), the median
    # of many, with the window idle.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    one_hot = np.zeros(n, np.float32)
    one_hot[0] = 1.0
    ref = []
    for k in range(250):
        t0 = time.perf_counter()
        inf.forward_values(one_hot)
        if k >= 50:
            ref.append(time.perf_counter() - t0)
    torch.set_num_threads(threads)
    events_rate = n_drag / events_s

    gui_p50, naive_p50 = pct(gui, 50), pct(naive_gui, 50)
    out = {
        "benchmark": "gui_latency",
        "model": model_label,
        "device": session.device,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "load_average_start": load_start,
        "load_average_end": list(os.getloadavg()),
        "reference_forward_ms": pct(ref, 50),
        "quick": args.quick,
        "window_size": list(SCREENSHOT_SIZE),
        "layers": acts.visible_layers(),
        "panels_with_images_on_screen": grids,
        "image_items_on_screen": n_images,
        "clicks": n_clicks,
        "click_to_repaint_ms": {"p50": pct(total, 50), "p95": pct(total, 95)},
        "hovered_click_to_repaint_ms": {"p50": pct(hovered, 50), "p95": pct(hovered, 95),
                                        "hover_dwell_ms": HOVER_DWELL_MS},
        "hovered_gui_apply_repaint_ms": {"p50": pct(hovered_gui, 50),
                                         "p95": pct(hovered_gui, 95)},
        "gui_apply_repaint_ms": {"p50": gui_p50, "p95": pct(gui, 95)},
        "gui_apply_repaint_cpu_ms": {"p50": pct(gui_cpu, 50), "p95": pct(gui_cpu, 95)},
        "frame_budget_ms": 16.0,
        "gui_within_frame_fraction": float(np.mean(np.asarray(gui) < 0.016)),
        "gui_cpu_within_frame_fraction": float(np.mean(np.asarray(gui_cpu) < 0.016)),
        "naive_apply_repaint_ms": {"p50": naive_p50, "p95": pct(naive_gui, 95),
                                   "updates": len(naive_gui)},
        "click_speedup_vs_naive": naive_p50 / gui_p50,
        "drag": {"slider_events": n_drag, "seconds": drag_s,
                 "slider_events_per_s": events_rate,
                 "decoder_repaints": decoded[0], "decoder_repaints_per_s": rate,
                 "naive_sync_repaints_per_s": naive_rate,
                 "repaints_ratio_vs_naive": rate / naive_rate,
                 "slider_events_ratio_vs_naive": events_rate / naive_rate},
    }
    session.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
