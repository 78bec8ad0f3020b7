"""Issue 14's figures read out of a gpu_check document, each against its goal.

Every figure point 5 of the issue names (plus the checks that make them mean something: the
fast step modes agree with eager, the auto-sized population fits its memory budget, the GPU
pane sees the worker) becomes one entry:

    {"value": ..., "goal": ">= 10000000" | None, "status": "pass" | "fail" | "inconclusive" |
     "measured" | "not measured", "from": "population.samples_per_s_k256_n256", "why": "...",
     "ci95": [lo, hi] (a noisy figure: judged on its whole interval)}

"measured" is a figure with no goal; "not measured" always says why (no CUDA device, the
part was skipped or failed, the profiler's control did not vouch for a count). A note can be
written from this alone. Pure: it reads the document and changes nothing.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

NO_CUDA = "needs a CUDA device"
AGREE_TOL = 1e-6   # float64 env state: compile/graph against eager, largest abs difference
OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le,
                                                  "==": operator.eq}


def lookup(doc: Any, path: str) -> tuple[Any, str | None]:
    """The value at a dotted path, or (None, why): the part's error or skip, a why_* note of
    the dict that holds a null, or where the path stops."""
    node, why = doc, None
    parts = path.split(".")
    for i, key in enumerate(parts):
        if isinstance(node, dict):
            for bad in ("error", "skipped"):
                if bad in node:
                    return None, f"{'.'.join(parts[:i]) or 'document'}: {bad}: {node[bad]}"
            notes = [str(v) for k, v in node.items() if k.startswith("why") and v]
            why = "; ".join(notes) or None
        if not isinstance(node, dict) or key not in node:
            return None, f"{'.'.join(parts[:i + 1])}: not in the document ({why or 'not run'})"
        node = node[key]
    if isinstance(node, dict):
        for bad in ("error", "skipped"):
            if bad in node:
                return None, f"{path}: {bad}: {node[bad]}"
    if node is None:
        return None, why or f"{path} is null"
    return node, None


def judge(value: Any, goal: str | None, why: str | None, source: str,
          ci95: list[float] | None = None) -> dict[str, Any]:
    """A figure's status against its goal. With a 95 % interval (a noisy figure), it passes
    only if the whole interval meets the goal, fails if none of it does, and is
    "inconclusive" when the goal lies inside it."""
    out: dict[str, Any] = {"value": value, "goal": goal, "from": source}
    if value is None:
        out.update(status="not measured", why=why or "no value")
    elif goal is None:
        out["status"] = "measured"
    else:
        op, threshold = goal.split()
        meets = OPS[op]
        out["status"] = "pass" if meets(float(value), float(threshold)) else "fail"
        if ci95 is not None and op in (">=", "<="):
            ends = [meets(float(x), float(threshold)) for x in ci95]
            out["ci95"] = ci95
            out["status"] = "pass" if all(ends) else "fail" if not any(ends) else "inconclusive"
    return out


def _best(doc: dict[str, Any], paths: list[str]) -> tuple[Any, str | None, str]:
    """The largest value among paths (and where it came from), or the first reason."""
    found = [(v, p) for p in paths for v, _w in [lookup(doc, p)] if v is not None]
    if found:
        v, p = max(found, key=lambda vp: float(vp[0]))
        return v, None, p
    return None, lookup(doc, paths[0])[1], paths[0]


def _agreement(doc: dict[str, Any], mode: str) -> dict[str, Any]:
    src = f"env.agreement.{mode}"
    if mode == "eager":
        return {"value": 0.0, "goal": f"<= {AGREE_TOL}", "status": "pass", "from": src,
                "why": "eager is the reference"}
    d_obs, why = lookup(doc, f"{src}.max_abs_obs")
    d_rew, why_r = lookup(doc, f"{src}.max_abs_reward")
    if d_obs is None or d_rew is None:
        return judge(None, f"<= {AGREE_TOL}", why or why_r, src)
    return judge(max(float(d_obs), float(d_rew)), f"<= {AGREE_TOL}", None, src)


def _sizing(doc: dict[str, Any]) -> dict[str, Any]:
    """Point 4: the auto-sized population's measured peak against the budget it was sized for
    (half the free memory at start), as a fraction of it."""
    src = "population_study.peak_mem_mb / budget"
    budget, why = lookup(doc, "population_study.budget_mb")
    peak, why_p = lookup(doc, "population_study.peak_mem_mb")
    if budget is None or peak is None or not float(budget):
        return judge(None, "<= 1", why or why_p or "no budget", src)
    return judge(round(float(peak) / float(budget), 3), "<= 1", None, src)


def _estimate(doc: dict[str, Any]) -> dict[str, Any]:
    """The measured peak over the sizing's estimate for the largest population (members ×
    the estimate per member). No goal: the peak also holds the data and the evaluation, which
    the estimate leaves to the budget's other half; above 1 says by how much it undercounts."""
    src = "population_study.peak_mem_mb / (member_estimate_mb × members)"
    vals = [lookup(doc, f"population_study.{k}") for k in
            ("peak_mem_mb", "member_estimate_mb", "members_per_trial",
             "largest_population_trials")]
    why = next((w for v, w in vals if v is None), None)
    if why is not None:
        return judge(None, None, why, src)
    peak, per, n, k = (float(v) for v, _w in vals)
    return judge(round(peak / max(per * n * k, 1e-9), 3), None, None, src)


def figures(doc: dict[str, Any]) -> dict[str, Any]:
    """Every figure of issue 14 point 5 with its goal and status."""
    cuda = bool(doc.get("cuda"))

    def cuda_only(name: str, fig: dict[str, Any]) -> None:
        if not cuda:   # a CPU stand-in for a CUDA figure is no figure
            fig = dict(fig, value=None, status="not measured", why=f"{NO_CUDA} (this run had none)")
        out[name] = fig

    out: dict[str, Any] = {}
    mode = doc.get("env", {}).get("auto_mode") or "eager"
    value, why, src = _best(doc, ["population.samples_per_s_k256_n256",
                                  "population.samples_per_s_k256_n1024"])
    cuda_only("population_samples_per_s", judge(value, ">= 10000000", why, src))
    src = "population.speedup_vs_serial.speedup"
    value, why = lookup(doc, src)
    k, _ = lookup(doc, "population.speedup_vs_serial.k")
    if value is not None and (k or 0) < 256:
        value, why = None, f"measured at K = {k}; the goal is for K >= 256"
    cuda_only("population_speedup_vs_serial", judge(value, ">= 100", why, src))
    src = "bench.population_speedup_vs_serial_cpu.speedup"
    value, why = lookup(doc, src)
    fig = judge(value, ">= 1.15", why, src,
                lookup(doc, "bench.population_speedup_vs_serial_cpu.ci95")[0])
    sizes = (lookup(doc, "bench.population_speedup_vs_serial_cpu.k")[0],
             lookup(doc, "bench.population_speedup_vs_serial_cpu.n")[0])
    if value is not None and sizes != (8, 64):   # --smoke: the goal is for these sizes only
        fig.update(status="measured", why=f"at K = {sizes[0]} x {sizes[1]} envs; the goal "
                   "is for K = 8 x 64")
    out["population_speedup_vs_serial_cpu"] = fig
    for prefix, count in (("env", "counts"), ("population_env", "population_counts")):
        src = f"env.{count}_{mode}.launches"
        value, why = lookup(doc, src)
        cuda_only(f"{prefix}_kernels_per_step", judge(value, "<= 12", why, src))
        src = f"env.{count}_{mode}.syncs"
        value, why = lookup(doc, src)
        cuda_only(f"{prefix}_host_syncs_per_step", judge(value, "== 0", why, src))
    cuda_only("env_mode_agrees_with_eager", _agreement(doc, mode))
    src = "bench.env_ops_per_step"
    value, why = lookup(doc, src)
    out["env_ops_per_step"] = judge(value, None, why, src)
    src = "population_study.study_trials_per_hour"
    value, why = lookup(doc, src)
    rc, _ = lookup(doc, "population_study.returncode")
    done, _ = lookup(doc, "population_study.trials_done")
    stopped, _ = lookup(doc, "population_study.stopped_at_deadline")
    if value is not None and not done:
        value, why = None, f"no trial ended (the study exited {rc}, stopped: {bool(stopped)})"
    elif value is not None and rc != 0 and not stopped:
        value, why = None, f"the study exited {rc} (see population_study.stderr_tail)"
    out["study_trials_per_hour"] = judge(value, None, why, src)
    settings, _ = lookup(doc, "population_study.settings")
    if value is not None:   # what kind of study the rate is of
        out["study_trials_per_hour"]["why"] = "; ".join(
            x for x in (settings, "a lower bound: stopped at its deadline" if stopped else "")
            if x)
    cuda_only("population_fits_its_memory_budget", _sizing(doc))
    cuda_only("population_peak_over_memory_estimate", _estimate(doc))
    src = "population_study.gpu_pane_worker_mem_mb"
    value, why = lookup(doc, src)
    cuda_only("gpu_pane_worker_mem_mb", judge(value, None, why, src))
    for name, fig in out.items():
        fig["name"] = name
    return out


def verdict(doc: dict[str, Any], figs: dict[str, Any]) -> dict[str, Any]:
    """Counts by status, the names that failed or were not measured, and the step mode the
    env figures were read from (the one training uses on this device)."""
    by: dict[str, list[str]] = {}
    for f in figs.values():
        by.setdefault(f["status"], []).append(f["name"])
    return {"step_mode": doc.get("env", {}).get("auto_mode") or "eager",
            "pass": by.get("pass", []), "fail": by.get("fail", []),
            "inconclusive": by.get("inconclusive", []),
            "not_measured": by.get("not measured", []),
            "all_goals_met": not by.get("fail") and not by.get("not measured")
            and not by.get("inconclusive")}


def table(doc: dict[str, Any]) -> str:
    """The figures as a markdown table (for the issue's note), re-judged from the measured
    document so that a corrected reader can be run on an old run's JSON."""
    figs = figures(doc)
    v = verdict(doc, figs)
    rows = ["| figure | value | goal | status | from / why |", "|---|---|---|---|---|"]
    for f in figs.values():
        value = "-" if f["value"] is None else f"{f['value']:,.4g}" if isinstance(
            f["value"], float) else str(f["value"])
        if f.get("ci95"):
            value += f" (95 % CI {f['ci95'][0]:g}–{f['ci95'][1]:g})"
        rows.append(f"| {f['name']} | {value} | {f['goal'] or '-'} | {f['status']} | "
                    f"{f['from']}{'; ' + f['why'] if f.get('why') else ''} |")
    head = (f"{doc.get('cuda') or 'no CUDA device'}, torch {doc.get('torch')}, step mode "
            f"{v['step_mode']}, wall {doc.get('wall_s')} s of {doc.get('budget_s')} s"
            f"{', stopped by the watchdog' if doc.get('stopped_by_watchdog') else ''}")
    tail = (f"goals met: {len(v['pass'])}; failed: {', '.join(v['fail']) or 'none'}; "
            f"inconclusive: {', '.join(v['inconclusive']) or 'none'}; "
            f"not measured: {', '.join(v['not_measured']) or 'none'}")
    return "\n".join([head, "", *rows, "", tail])


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import sys

    p = argparse.ArgumentParser(description="issue 14's figures of a gpu_check JSON, as a table")
    p.add_argument("json", help="the file gpu_check --out wrote")
    args = p.parse_args(argv)
    try:
        with open(args.json, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"gpu_figures: cannot read {args.json}: {e}", file=sys.stderr)
        return 2
    if not isinstance(doc, dict):
        print(f"gpu_figures: {args.json} is not a gpu_check document", file=sys.stderr)
        return 2
    print(table(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
