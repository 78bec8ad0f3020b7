"""GPU pane: per GPU a memory bar, a sparkline of memory history, utilisation, temperature;
per-process GPU memory of our processes; a clear line when there is no NVIDIA GPU."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from widgets.fmt import DASH, bar, matches, mb
from widgets.inputs import GpuLike, GpuProcLike
from widgets.line_table import LineTable
from widgets.static_text import set_markup, set_text
from widgets.table import sync_table


class GpuCard(Vertical):
    DEFAULT_CSS = """
    GpuCard { height: auto; }
    GpuCard Static { height: 1; }
    GpuCard Sparkline { height: 1; margin: 0 0 0 2; }
    """

    def __init__(self, gpu: int) -> None:
        super().__init__(id=f"gpu-{gpu}")
        self.gpu = gpu

    def compose(self) -> ComposeResult:
        yield Static("", classes="gpu-line")
        yield Sparkline([], summary_function=max)

    def set_data(self, g: GpuLike, history: Sequence[float]) -> None:
        frac = g.mem_used_mb / g.mem_total_mb if g.mem_total_mb else None
        util = DASH if g.util_pct is None else f"{g.util_pct:.0f}%"
        temp = DASH if g.temp_c is None else f"{g.temp_c:.0f}°C"
        set_markup(self.query_one(".gpu-line", Static), "$line", layout=False,
                   line=f"GPU{g.gpu} {(g.name or '')[:18]:18} {bar(frac, 16)} "
                        f"{mb(g.mem_used_mb)}/{mb(g.mem_total_mb)}  util {util}  {temp}")
        self.query_one(Sparkline).data = list(history) or [0.0]


class GpuPane(Vertical):
    DEFAULT_CSS = """
    GpuPane { height: 1fr; }
    GpuPane #gpu-status { height: auto; }
    GpuPane #gpu-cards { height: auto; max-height: 12; }
    GpuPane LineTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static("No samples yet (is the sampler running?)", id="gpu-status")
        yield Vertical(id="gpu-cards")
        yield LineTable("gpu", "pid", "process", "GPU mem", id="gpu-procs")

    def update_data(self, gpus: Sequence[GpuLike], histories: Sequence[Sequence[float]],
                    procs: Sequence[GpuProcLike], gpu_status: str | None, system_line: str,
                    filter_text: str = "") -> None:
        status = self.query_one("#gpu-status", Static)
        if gpu_status is None:
            set_text(status, "No samples yet (is the sampler running?)")
        elif gpu_status != "ok" and not gpus:
            set_markup(status, "[b]No NVIDIA GPU[/b]: $why\n$system", why=gpu_status,
                       system=system_line)
        else:
            set_markup(status, "$system", system=system_line)
        box = self.query_one("#gpu-cards", Vertical)
        cards = {c.gpu: c for c in box.query(GpuCard)}
        if sorted(cards) != [g.gpu for g in gpus]:
            box.remove_children()
            cards = {g.gpu: GpuCard(g.gpu) for g in gpus}
            mounted = box.mount_all(list(cards.values()))

            async def fill_once_mounted() -> None:
                # (after a refresh alone the cards could still be mounting: left empty)
                await mounted
                self._fill(gpus, histories)

            self.call_later(fill_once_mounted)
        else:
            self._fill(gpus, histories)
        rows = []
        for p in procs:
            cells = (str(p.gpu), str(p.pid), p.process or "(not ours)", mb(p.mem_used_mb))
            if matches(filter_text, *cells):
                rows.append((f"{p.gpu}:{p.pid}", cells))
        sync_table(self.query_one(LineTable), rows)

    def _fill(self, gpus: Sequence[GpuLike], histories: Sequence[Sequence[float]]) -> None:
        box = self.query_one("#gpu-cards", Vertical)
        cards = {c.gpu: c for c in box.query(GpuCard)}
        for g, h in zip(gpus, histories, strict=False):
            if g.gpu in cards and cards[g.gpu].is_mounted:
                cards[g.gpu].set_data(g, h)


def system_line(cpu_pct: float | None, ram_used_mb: float | None, ram_total_mb: float | None,
                disk_used_mb: float | None, disk_total_mb: float | None) -> str:
    cpu = DASH if cpu_pct is None else f"{cpu_pct:.0f}%"
    return (f"CPU {cpu}  RAM {mb(ram_used_mb)}/{mb(ram_total_mb)}  "
            f"disk {mb(disk_used_mb)}/{mb(disk_total_mb)}")
