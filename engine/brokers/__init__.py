"""Brokers behind one interface: SimBroker (default), AlpacaPaperBroker, CoinbaseBroker."""
