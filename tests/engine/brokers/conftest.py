"""The exchange fakes' fixtures (tests/fakes) for the broker tests."""

from tests.fakes.fixtures import coinbase_key, fake_alpaca, fake_coinbase  # noqa: F401
