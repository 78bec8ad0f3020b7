"""Shared fixtures: a config rooted in tmp_path, so each test has its own store and files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.config import Config, load_config


@pytest.fixture(autouse=True)
def _no_inherited_cappuccino_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's CAPPUCCINO_* or broker keys must not leak into tests.
    for name in list(os.environ):
        if name.startswith(("CAPPUCCINO_", "COINBASE_", "APCA_")):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """make_config("[risk]\\ndaily_loss_pct = 1") -> Config with everything under tmp_path."""

    def _make(text: str = "", name: str = "cappuccino.toml") -> Config:
        path = tmp_path / name
        path.write_text(text)
        return load_config(path, environ={})

    return _make


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """An empty cappuccino.toml in tmp_path (paths resolve under tmp_path)."""
    path = tmp_path / "cappuccino.toml"
    path.write_text("")
    return path


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests (the console's and the widgets') in a fresh event loop: no
    async plugin is installed."""
    import asyncio
    import inspect

    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(pyfuncitem.obj(**{n: pyfuncitem.funcargs[n] for n in names}))
    return True
