"""Trials pane: study progress counts, best objective and PBO, running trials, attempts table.

When the study has evidence (engine.study.evidence, kept by the study driver) a third header
line shows the best trial's deflated Sharpe ratio over N (the trials tried on the same data,
engine.study.pool), its held-out active Sharpe with the 95 % interval, the trivial
baselines' objectives (cash, HODL, equal weight, static tilt) and the paper gate's verdict.

Every attempt that saved a model shows the model's held-out Sharpe next to its equal-weight
(EW) and HODL benchmarks. When several hosts share the study (other hosts' trials are
mirrored into this store), a host column says where each trial ran and the header counts the
hosts; with one host it would only repeat this host's name, so it is left out. On a narrow
pane the device and memory columns go first, and hosts show their short name.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import ProgressBar, Static

from widgets.fmt import DASH, clip, matches, mb, num
from widgets.inputs import AttemptLike, CountsLike, StudyLike
from widgets.line_table import LineTable
from widgets.static_text import plain, set_text
from widgets.table import selected_key, sync_table

MAX_BARS = 4  # running-trial bars shown; the table has the rest
WIDE = 100  # from this pane width on, the device and memory columns are shown too
# The table crops at the right edge: what matters least comes last.
COLUMNS = ("trial", "try", "state", "objective", "sharpe", "EW", "HODL", "host", "device",
           "mem", "error")
NARROW = ("device", "mem")  # dropped below WIDE columns
HOST_WIDE, HOST_NARROW = 20, 10  # host cell widths
LOCAL = "local"  # this host's attempts whose worker recorded no host name


def host_name(a: AttemptLike) -> str:
    """Where an attempt ran: the recorded host, else 'local' (or 'remote' if mirrored)."""
    return a.host or ("remote" if a.mirrored else LOCAL)


def short_host(name: str) -> str:
    """'gpu-b.lab.example' -> 'gpu-b'; an IP address stays whole."""
    head = name.split(".")[0]
    return name if head.isdigit() else head


def evidence_line(ev: dict | None) -> str:
    """The study's deflated evidence in one line (`cappuccino study show` has it all)."""
    if not ev or not ev.get("best"):
        return ""
    b = ev["best"]
    lo, hi = b.get("holdout_ci") or (None, None)
    gate = (ev.get("gate") or {}).get("paper") or {}
    verdict = ("[b]passes[/b]" if gate.get("passed")
               else f"[b]refused[/b] ({len(gate.get('reasons') or [])})")
    base = b.get("baselines") or {}
    bases = "/".join(num(base.get(k), 1) for k in ("cash", "hodl", "equal_weight",
                                                    "static_tilt"))
    n = ev.get("dsr_trials") or ev.get("trials_attempted", DASH)  # N: trials on the same data
    return (f"#{b['trial']} DSR {num(b.get('dsr'), 2)}/{n}"
            f"  held-out {num(b.get('holdout_active_sharpe'), 1)} [{num(lo, 1)}, {num(hi, 1)}]"
            f"  cash/hodl/EW/tilt {bases}  paper gate {verdict}")


class RunningTrial(Static):
    """One running trial: label and a progress bar."""

    DEFAULT_CSS = """
    RunningTrial { height: 1; layout: horizontal; }
    RunningTrial .label { width: 22; }
    RunningTrial ProgressBar { width: 1fr; }
    """

    def __init__(self, label: str, progress: float) -> None:
        super().__init__()
        self._label, self._progress = label, progress

    def compose(self) -> ComposeResult:
        yield Static(plain(self._label), classes="label")
        bar = ProgressBar(total=100, show_eta=False)
        bar.progress = self._progress * 100
        yield bar

    def set_progress(self, progress: float) -> None:
        self._progress = progress
        for bar in self.query(ProgressBar).results(ProgressBar):
            bar.progress = progress * 100

    def set_label(self, label: str) -> None:
        if label != self._label:
            self._label = label
            for static in self.query(".label").results(Static):  # none yet: compose uses it
                static.update(plain(label), layout=False)  # a fixed 22x1 cell: no layout needed


class TrialsPane(Vertical):
    DEFAULT_CSS = """
    TrialsPane { height: 1fr; }
    TrialsPane #trials-summary { height: auto; }
    TrialsPane #trials-running { height: auto; max-height: 4; }
    TrialsPane #trials-table { height: 1fr; }
    """

    _data: tuple[Sequence[AttemptLike], str] | None = None
    _summary_fits = False  # the shown summary is two lines, neither wrapped
    _hosts = 1  # hosts in the shown study: the host column shows when there are several

    class TrialSelected(Message):
        def __init__(self, trial: int | None) -> None:
            super().__init__()
            self.trial = trial

    def compose(self) -> ComposeResult:
        yield Static("No study yet. Press s to start one.", id="trials-summary")
        yield Vertical(id="trials-running")
        yield LineTable(*self._columns(), id="trials-table")

    def _wide(self) -> bool:
        # Before the first layout the width is 0: start narrow, on_resize widens.
        return self.size.width >= WIDE

    def _columns(self) -> tuple[str, ...]:
        drop = (() if self._wide() else NARROW) + (() if self._hosts > 1 else ("host",))
        return tuple(c for c in COLUMNS if c not in drop)

    def _sync_columns(self) -> bool:
        """Set the header for this width and host count; True if it changed."""
        table = self.query_one("#trials-table", LineTable)
        if table.columns == self._columns():
            return False
        table.set_columns(self._columns())
        return True

    def on_resize(self) -> None:
        if self._sync_columns() and self._data is not None:
            self._update_table(*self._data)

    def update_data(self, study: StudyLike | None, counts: CountsLike | None,
                    attempts: Sequence[AttemptLike], running: Sequence[AttemptLike],
                    filter_text: str = "") -> None:
        summary = self.query_one("#trials-summary", Static)
        if study is None:
            set_text(summary, "No study yet. Press s to start one.")
            self._summary_fits = False
        else:
            c = counts
            hosts = f"  [b]{c.hosts}[/b] hosts" if c is not None and c.hosts > 1 else ""
            best, trial = study.best_value, study.best_trial
            if best is None:  # the driver has not recorded one: the best completed shown
                done = [a for a in attempts if a.state == "COMPLETE" and a.objective is not None]
                if done:
                    top = max(done, key=lambda a: a.objective or 0.0)
                    best, trial = top.objective, top.trial
            line1 = (f"[b]{study.name}[/b] {study.timeframe}  {c.total if c else 0}/"
                     f"{study.n_trials} trials{hosts}  best {num(best, 3)}"
                     f" (#{trial if trial is not None else DASH})"
                     f"  PBO {num(study.pbo, 2)}")
            line2 = "" if c is None else (
                f"running [b]{c.running}[/b]  complete [b]{c.complete}[/b]  "
                f"failed [b]{c.failed}[/b]  pruned [b]{c.pruned}[/b]  "
                f"retrying [b]{c.retrying}[/b]  retried [b]{c.retried}[/b]")
            lines = [line1, line2]
            ev = evidence_line(getattr(study, "evidence_dict", None))
            if ev:
                lines.append(ev)
            # The summary's height changes only if a line wraps differently: the same
            # short lines (the usual new count) need no layout of the whole screen.
            fits = all(len(x) < summary.size.width for x in lines)
            set_text(summary, "\n".join(lines), layout=not (fits and self._summary_fits))
            self._summary_fits = fits
        self._hosts = counts.hosts if counts is not None else 1
        self._sync_columns()
        self._update_bars(running)
        self._data = (attempts, filter_text)
        self._update_table(attempts, filter_text)

    def _update_table(self, attempts: Sequence[AttemptLike], filter_text: str) -> None:
        table = self.query_one("#trials-table", LineTable)
        columns = table.columns  # the cells match the header shown (_sync_columns sets it)
        wide = "device" in columns
        rows = []
        for a in attempts:
            host = host_name(a)
            every = {
                "trial": str(a.trial), "try": str(a.attempt), "state": a.state,
                "objective": num(a.objective, 4), "sharpe": num(a.sharpe, 2),
                "EW": num(a.ew_sharpe, 2), "HODL": num(a.hodl_sharpe, 2),
                "host": clip(host, HOST_WIDE) if wide else clip(short_host(host), HOST_NARROW),
                "device": a.device or DASH, "mem": mb(a.peak_mem_mb),
                "error": clip(a.error_class, 24 if wide else 18)}
            cells = tuple(every[c] for c in columns)
            # The filter also sees the hidden columns: `/cuda` or `/gpu-b` work on any width.
            if matches(filter_text, *cells, a.device, host):
                rows.append((f"{a.trial}:{a.attempt}", cells))
        sync_table(table, rows)

    def _label(self, a: AttemptLike) -> str:
        # With several hosts, where it runs says more than which try it is.
        where = (short_host(host_name(a))[:8] if self._hosts > 1 else f"try {a.attempt}")
        return f"trial {a.trial} {where} {a.device or ''}"[:21]

    def _update_bars(self, running: Sequence[AttemptLike]) -> None:
        box = self.query_one("#trials-running", Vertical)
        shown = list(running[:MAX_BARS])
        labels = [self._label(a) for a in shown]
        bars = list(box.query(RunningTrial))
        if len(bars) == len(labels):
            # Same number of bars: relabel them in place. Remounting would cost a layout of
            # the whole screen each time a trial ends and another starts.
            for b, lbl, a in zip(bars, labels, shown, strict=True):
                b.set_label(lbl)
                b.set_progress(a.progress)
            return
        box.remove_children()
        box.mount_all([RunningTrial(lbl, a.progress) for lbl, a in zip(labels, shown, strict=True)])

    @property
    def selected_trial(self) -> int | None:
        key = selected_key(self.query_one("#trials-table", LineTable))
        return None if key is None else int(key.split(":")[0])

    def on_line_table_row_highlighted(self, event: LineTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.TrialSelected(self.selected_trial))
