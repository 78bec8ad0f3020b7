"""Issue 14's figures judged from a gpu_check document, and the counts behind them vouched for.

The documents are shaped as gpu_check writes them on a GPU (the same keys its parts write);
the event counts come from real torch.profiler sessions on this CPU.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from engine.bench import env_gpu
from engine.bench.gpu_figures import figures, lookup, verdict


def counts(launches: float, syncs: float) -> dict[str, Any]:
    return {"n_envs": 65536, "mode": "compile", "kernels": launches + 1, "launches": launches,
            "syncs": syncs, "aten_ops": 3.0}


def gpu_doc() -> dict[str, Any]:
    """A run on a GPU where every goal is met (values of the right kind, not measurements)."""
    return {
        "cuda": "NVIDIA H200", "smoke": False,
        "env": {"device": "cuda:0", "auto_mode": "compile",
                "agreement": {"compile": {"max_abs_obs": 2e-12, "max_abs_reward": 1e-13},
                              "graph": {"max_abs_obs": 0.0, "max_abs_reward": 0.0}},
                "counts_compile": counts(4, 0), "population_counts_compile": counts(6, 0),
                "counts_eager": counts(75, 4), "population_counts_eager": counts(80, 0)},
        "population": {"samples_per_s_k256_n256": 10.6e6, "samples_per_s_k256_n1024": 17.7e6,
                       "speedup_vs_serial": {"k": 256, "n": 256, "speedup": 412.0}},
        "bench": {"env_ops_per_step": 173.0,
                  "population_speedup_vs_serial_cpu": {"k": 8, "n": 64, "speedup": 1.3}},
        "population_study": {"returncode": 0, "trials_done": 128, "stopped_at_deadline": False,
                             "study_trials_per_hour": 5000.0, "peak_mem_mb": 30000.0,
                             "budget_mb": 70000, "gpu_pane_worker_mem_mb": 31000.0,
                             "member_estimate_mb": 20.0, "members_per_trial": 10,
                             "largest_population_trials": 128},
    }


def test_every_goal_met_passes_and_the_best_population_size_counts() -> None:
    figs = figures(gpu_doc())
    v = verdict(gpu_doc(), figs)
    assert v["all_goals_met"] and not v["fail"] and not v["not_measured"], v
    assert v["step_mode"] == "compile"
    assert figs["population_samples_per_s"]["value"] == 17.7e6
    assert figs["population_samples_per_s"]["from"] == "population.samples_per_s_k256_n1024"
    assert figs["env_kernels_per_step"]["from"] == "env.counts_compile.launches"
    assert figs["population_fits_its_memory_budget"]["value"] == pytest.approx(30 / 70, abs=1e-3)
    assert figs["study_trials_per_hour"]["status"] == "measured"
    est = figs["population_peak_over_memory_estimate"]
    assert est["status"] == "measured" and est["value"] == pytest.approx(
        30000 / (20 * 10 * 128), abs=1e-3)


def test_a_miss_fails_and_says_which() -> None:
    doc = gpu_doc()
    doc["env"]["counts_compile"] = counts(13, 0)       # one launch over the goal
    doc["env"]["population_counts_compile"] = counts(4, 1)
    doc["population"]["speedup_vs_serial"]["speedup"] = 99.0
    doc["bench"]["population_speedup_vs_serial_cpu"]["speedup"] = 1.14
    doc["env"]["agreement"]["compile"]["max_abs_reward"] = 1e-3
    doc["population_study"]["peak_mem_mb"] = 80000.0
    v = verdict(doc, figures(doc))
    assert sorted(v["fail"]) == sorted([
        "env_kernels_per_step", "population_env_host_syncs_per_step",
        "population_speedup_vs_serial", "population_speedup_vs_serial_cpu",
        "env_mode_agrees_with_eager", "population_fits_its_memory_budget"])
    assert not v["all_goals_met"]


def test_what_was_not_measured_says_why() -> None:
    doc = gpu_doc()
    doc["env"]["counts_compile"] = {"error": "RuntimeError: boom"}
    doc["env"]["population_counts_compile"] = {"skipped": "the part's share of --budget-s "
                                                          "was spent"}
    doc["population"] = {"error": "OutOfMemoryError: CUDA out of memory"}
    doc["population_study"].update(returncode=1, trials_done=0, study_trials_per_hour=0.0)
    figs = figures(doc)
    assert figs["env_kernels_per_step"]["status"] == "not measured"
    assert "boom" in figs["env_kernels_per_step"]["why"]
    assert "budget" in figs["population_env_kernels_per_step"]["why"]
    assert "OutOfMemoryError" in figs["population_samples_per_s"]["why"]
    assert figs["study_trials_per_hour"]["status"] == "not measured"   # 0 done is no rate
    assert "no trial ended" in figs["study_trials_per_hour"]["why"]
    v = verdict(doc, figs)
    assert not v["all_goals_met"] and "population_speedup_vs_serial" in v["not_measured"]


def test_a_speedup_at_another_size_is_not_judged() -> None:
    doc = gpu_doc()
    doc["population"]["speedup_vs_serial"].update(k=2, speedup=500.0)
    doc["bench"]["population_speedup_vs_serial_cpu"].update(k=2, n=16, speedup=1.5)
    figs = figures(doc)
    assert figs["population_speedup_vs_serial"]["status"] == "not measured"
    assert figs["population_speedup_vs_serial_cpu"]["status"] == "measured"
    assert "K = 8 x 64" in figs["population_speedup_vs_serial_cpu"]["why"]


def test_without_cuda_the_cuda_figures_are_not_measured_even_with_values() -> None:
    doc = copy.deepcopy(gpu_doc())
    doc["cuda"] = None
    figs = figures(doc)
    for name in ("population_samples_per_s", "env_kernels_per_step",
                 "env_host_syncs_per_step", "gpu_pane_worker_mem_mb"):
        assert figs[name]["status"] == "not measured" and figs[name]["value"] is None
        assert "CUDA" in figs[name]["why"]
    assert figs["population_speedup_vs_serial_cpu"]["status"] == "pass"


def test_lookup_names_where_a_path_stops() -> None:
    assert lookup({"a": {"b": 1}}, "a.b") == (1, None)
    assert "a.c: not in the document" in str(lookup({"a": {"b": 1}}, "a.c")[1])
    assert lookup({"a": {"b": None, "why_null": "needs X"}}, "a.b") == (None, "needs X")


def cpu_step_events(steps: int = 4) -> list[Any]:
    env = env_gpu.make_env("cpu", 64, "eager")
    acts, _ = env_gpu.warm(env, "cpu")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            env.step(acts[i % len(acts)])
    return list(prof.events())


def test_count_events_reads_aten_ops_of_a_real_profile() -> None:
    from engine.bench.population import env_ops_per_step

    c = env_gpu.count_events(cpu_step_events(), 4)
    assert c["aten_ops"] == env_ops_per_step(n=64, steps=4)   # the bench's own count
    assert c["kernels"] == c["launches"] == c["profiler_syncs"] == 0   # a CPU has none


def test_zero_kernels_is_not_measured_never_a_perfect_score() -> None:
    """A profile with no CUDA events (here a real CPU one: what a wrong event name or a
    profiler without CUDA activity gives on a GPU) must not read as 0 kernels, 0 syncs."""
    c = env_gpu.count_events(cpu_step_events(), 4)
    deaf = env_gpu.count_events(cpu_step_events(1), 1)   # the control saw no kernel either
    deaf["sync_warnings"] = 0.0
    out = env_gpu.vouch(c, deaf, sync_warnings=0.0)
    assert out["kernels"] is out["launches"] is out["syncs"] is None
    assert "control of 2 known kernels counted 0" in out["why_null"]
    assert "did not report the control" in out["why_null"]
    heard = {"kernels": 2.0, "launches": 2.0, "api_calls": {"cudaLaunchKernel": 2.0},
             "sync_warnings": 1.0}   # a control that saw its kernels: the step's 0 stays unmet
    out = env_gpu.vouch(c, heard, sync_warnings=0.0)
    assert out["kernels"] is None and "saw none in the step" in out["why_null"]
    assert out["syncs"] == 0.0       # the detector heard the control: 0 syncs is a figure


def test_a_blocking_call_is_a_sync_whatever_the_detector_says() -> None:
    c = {"kernels": 5.0, "launches": 5.0, "profiler_syncs": 1.0, "aten_ops": 9.0,
         "api_calls": {"cudaStreamSynchronize": 1.0}}
    ctl = {"kernels": 2.0, "launches": 2.0, "api_calls": {}, "sync_warnings": 0.0}
    assert env_gpu.vouch(c, ctl, sync_warnings=None)["syncs"] == 1.0
    ctl["sync_warnings"] = 1.0
    assert env_gpu.vouch(c, ctl, sync_warnings=0.0)["syncs"] == 1.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the controls need a CUDA device")
def test_the_controls_count_what_they_must_on_cuda() -> None:
    ctl = env_gpu.control("cuda:0")
    assert ctl["kernels"] >= 2 and ctl["launches"] >= 2 and ctl["sync_warnings"] >= 1


def test_count_events_reads_cuda_names_with_their_suffixes() -> None:
    """torch's own FunctionEvents as a GPU profile holds them: kernels on the CUDA device,
    runtime/driver calls on the CPU side, named with or without cupti's suffixes."""
    from torch.autograd import DeviceType
    from torch.autograd.profiler_util import FunctionEvent

    def ev(name: str, dev: DeviceType = DeviceType.CPU) -> FunctionEvent:
        return FunctionEvent(0, name, 1, 0, 1, device_type=dev)

    events = [ev("triton_poi_fused_0", DeviceType.CUDA), ev("Memcpy DtoD", DeviceType.CUDA),
              ev("cuLaunchKernel"), ev("cudaLaunchKernel_v7000"), ev("cudaMemcpyAsync_ptsz"),
              ev("cudaGraphLaunch"), ev("cudaStreamSynchronize"), ev("cudaMemcpy"),
              ev("cudaDeviceSynchronize"), ev("cudaGetDevice"), ev("aten::add")]
    c = env_gpu.count_events(events, 2)
    assert (c["kernels"], c["launches"], c["profiler_syncs"], c["aten_ops"]) == (1, 2, 1, 0.5)
    assert c["api_calls"]["cudaLaunchKernel_v7000"] == 0.5 and "cudaGetDevice" in c["api_calls"]


def test_unseen_launch_calls_are_made_up_by_the_kernels_outside_a_graph() -> None:
    """A profiler that misses one launch API (triton's cuLaunchKernel, say) must not make a
    compiled step look like it launches less than it runs; in a CUDA graph it may."""
    c = {"kernels": 14.0, "launches": 1.0, "profiler_syncs": 0.0, "aten_ops": 2.0,
         "api_calls": {"cudaMemcpyAsync": 1.0}}
    ctl = {"kernels": 2.0, "launches": 2.0, "api_calls": {}, "sync_warnings": 1.0}
    out = env_gpu.vouch(c, ctl, sync_warnings=0.0, mode="compile")
    assert out["launches"] == 14.0 and "1 launch calls seen for 14 kernels" in out["launches_note"]
    out = env_gpu.vouch(c, ctl, sync_warnings=0.0, mode="graph")
    assert out["launches"] == 1.0 and "launches_note" not in out


def test_the_table_is_written_from_the_json_alone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys

    doc = gpu_doc()
    doc["env"]["counts_compile"] = counts(13, 0)
    (tmp_path / "run.json").write_text(json.dumps(doc))
    (tmp_path / "bad.json").write_text("{not json")
    cmd = [sys.executable, "-m", "engine.bench.gpu_figures"]
    ok = subprocess.run([*cmd, str(tmp_path / "run.json")], capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "| env_kernels_per_step | 13 | <= 12 | fail | env.counts_compile.launches |" in ok.stdout
    assert "failed: env_kernels_per_step;" in ok.stdout and "NVIDIA H200" in ok.stdout
    for bad in ("bad.json", "missing.json"):
        r = subprocess.run([*cmd, str(tmp_path / bad)], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
        assert "cannot read" in r.stderr and "Traceback" not in r.stderr


def test_a_noisy_speedup_passes_only_when_its_whole_interval_does() -> None:
    doc = gpu_doc()
    cpu = doc["bench"]["population_speedup_vs_serial_cpu"]
    cpu.update(speedup=1.2, ci95=[1.17, 1.24])
    assert figures(doc)["population_speedup_vs_serial_cpu"]["status"] == "pass"
    cpu.update(speedup=1.2, ci95=[1.05, 1.35])   # the goal lies inside: no verdict either way
    figs = figures(doc)
    assert figs["population_speedup_vs_serial_cpu"]["status"] == "inconclusive"
    v = verdict(doc, figs)
    assert v["inconclusive"] == ["population_speedup_vs_serial_cpu"] and not v["all_goals_met"]
    cpu.update(speedup=1.1, ci95=[1.02, 1.14])
    assert figures(doc)["population_speedup_vs_serial_cpu"]["status"] == "fail"


def test_ci95_of_rounds() -> None:
    from engine.bench.gpu_parts import ci95

    assert ci95([1.2]) is None
    interval = ci95([1.1, 1.2, 1.3])   # mean 1.2, sd 0.1, t(2) = 4.30: 1.2 -/+ 0.248
    assert interval is not None
    lo, hi = interval
    assert lo == pytest.approx(0.952, abs=1e-3) and hi == pytest.approx(1.448, abs=1e-3)
