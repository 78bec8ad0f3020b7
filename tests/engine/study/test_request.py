"""One validation for starting a study: the CLI, the console's form and the supervisor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.study.request import TrainArgsError, TrainRequest, train_request

ROOT = Path(__file__).resolve().parents[3]


def test_devices_and_numbers_are_parsed_once() -> None:
    assert train_request("s", "5m", "3", device="cpu") == TrainRequest("s", "5m", 3, "cpu")
    assert train_request("s", "1h", 2, gpu=1).device == "cuda:1"
    assert train_request("s", "1h", 2, gpu="auto").device == "auto"  # older console rows
    assert train_request("s", "5m", 4, device="cuda:0", workers="2").argv() == [
        "train", "--study", "s", "--timeframe", "5m", "--n-trials", "4",
        "--device", "cuda:0", "--workers", "2"]
    assert train_request("s", "5m", 1).argv()[-1] == "1"  # no device: the config's


@pytest.mark.parametrize(("kw", "field"), [
    ({"study": "a b"}, "study:"), ({"study": ""}, "study:"), ({"study": 3}, "study:"),
    ({"timeframe": "7m"}, "timeframe:"), ({"n_trials": 0}, "n_trials:"),
    ({"n_trials": "1e3"}, "n_trials:"), ({"n_trials": True}, "n_trials:"),
    ({"n_trials": 10**9}, "n_trials:"), ({"device": "gpu"}, "device:"),
    ({"device": "cuda:0; rm -rf /"}, "device:"), ({"device": "cuda"}, "device:"),
    ({"gpu": "-1"}, "gpu:"), ({"gpu": 0, "device": "cpu"}, "device:"),
    ({"workers": 0}, "workers:")])
def test_bad_fields_are_named(kw: dict, field: str) -> None:
    args = {"study": "s", "timeframe": "5m", "n_trials": 1, **kw}
    with pytest.raises(TrainArgsError, match=f"^{field}"):
        train_request(**args)


def test_the_cli_refuses_with_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "s.db"}"\n')
    r = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg), "train",
                        "--study", "x", "--device", "gpu7"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "cappuccino: train --device: auto, cpu or cuda:N, got 'gpu7'"]
