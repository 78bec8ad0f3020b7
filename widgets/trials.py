"""Trials pane: study progress counts, best objective and PBO, running trials, attempts table.

Every attempt that saved a model shows the model's held-out Sharpe next to its equal-weight
(EW) and HODL benchmarks. On a narrow pane the device and memory columns go first.
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
from widgets.table import selected_key, sync_table

MAX_BARS = 4  # running-trial bars shown; the table has the rest
WIDE = 100  # from this pane width on, the device and memory columns are shown too
COLUMNS = ("trial", "try", "state", "objective", "sharpe", "EW", "HODL", "device", "mem",
           "error")
NARROW = ("device", "mem")  # dropped below WIDE columns


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
        yield Static(self._label, classes="label")
        bar = ProgressBar(total=100, show_eta=False)
        bar.progress = self._progress * 100
        yield bar

    def set_progress(self, progress: float) -> None:
        self.query_one(ProgressBar).progress = progress * 100


class TrialsPane(Vertical):
    DEFAULT_CSS = """
    TrialsPane { height: 1fr; }
    TrialsPane #trials-summary { height: auto; }
    TrialsPane #trials-running { height: auto; max-height: 4; }
    TrialsPane #trials-table { height: 1fr; }
    """

    _data: tuple[Sequence[AttemptLike], str] | None = None

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
        return COLUMNS if self._wide() else tuple(c for c in COLUMNS if c not in NARROW)

    def on_resize(self) -> None:
        table = self.query_one("#trials-table", LineTable)
        if table.columns != self._columns():
            table.set_columns(self._columns())
            if self._data is not None:
                self._update_table(*self._data)

    def update_data(self, study: StudyLike | None, counts: CountsLike | None,
                    attempts: Sequence[AttemptLike], running: Sequence[AttemptLike],
                    filter_text: str = "") -> None:
        summary = self.query_one("#trials-summary", Static)
        if study is None:
            summary.update("No study yet. Press s to start one.")
        else:
            c = counts
            line1 = (f"[b]{study.name}[/b] {study.timeframe}  {c.total if c else 0}/"
                     f"{study.n_trials} trials  best {num(study.best_value, 3)}"
                     f" (#{study.best_trial if study.best_trial is not None else DASH})"
                     f"  PBO {num(study.pbo, 2)}")
            line2 = "" if c is None else (
                f"running [b]{c.running}[/b]  complete [b]{c.complete}[/b]  "
                f"failed [b]{c.failed}[/b]  pruned [b]{c.pruned}[/b]  "
                f"retrying [b]{c.retrying}[/b]  retried [b]{c.retried}[/b]")
            summary.update(f"{line1}\n{line2}")
        self._update_bars(running)
        self._data = (attempts, filter_text)
        self._update_table(attempts, filter_text)

    def _update_table(self, attempts: Sequence[AttemptLike], filter_text: str) -> None:
        table = self.query_one("#trials-table", LineTable)
        wide = "device" in table.columns  # the cells match the header shown (on_resize sets it)
        rows = []
        for a in attempts:
            head = (str(a.trial), str(a.attempt), a.state, num(a.objective, 4),
                    num(a.sharpe, 2), num(a.ew_sharpe, 2), num(a.hodl_sharpe, 2))
            if wide:
                cells = (*head, a.device or DASH, mb(a.peak_mem_mb), clip(a.error_class, 24))
            else:
                cells = (*head, clip(a.error_class, 18))
            # The filter also sees the hidden columns: `/cuda` works on any width.
            if matches(filter_text, *cells, a.device):
                rows.append((f"{a.trial}:{a.attempt}", cells))
        sync_table(table, rows)

    def _update_bars(self, running: Sequence[AttemptLike]) -> None:
        box = self.query_one("#trials-running", Vertical)
        shown = list(running[:MAX_BARS])
        labels = [f"trial {a.trial} try {a.attempt} {a.device or ''}"[:21] for a in shown]
        bars = list(box.query(RunningTrial))
        if [b._label for b in bars] == labels:
            for b, a in zip(bars, shown, strict=True):
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
