"""pytest fixtures for the exchange fakes. Import them into a test module to use them:

    from tests.fakes.fixtures import coinbase_key, fake_alpaca, fake_coinbase  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.fake_alpaca import FakeAlpaca
from tests.fakes.fake_coinbase import KEY_NAME, FakeCoinbase, make_ec_key


@pytest.fixture(scope="session")
def coinbase_key() -> tuple[str, str, str]:
    """(key name, private PEM, public PEM): an EC P-256 key like a Coinbase CDP key."""
    priv, pub = make_ec_key()
    return KEY_NAME, priv, pub


@pytest.fixture
def fake_coinbase(coinbase_key: tuple[str, str, str]) -> Iterator[FakeCoinbase]:
    """A running FakeCoinbase that verifies JWTs signed with `coinbase_key`."""
    with FakeCoinbase(public_key_pem=coinbase_key[2], key_name=coinbase_key[0]) as srv:
        yield srv


@pytest.fixture
def fake_alpaca() -> Iterator[FakeAlpaca]:
    """A running FakeAlpaca (keys PKTEST / s3cret) serving trading and data paths."""
    with FakeAlpaca() as srv:
        yield srv
