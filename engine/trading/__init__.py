"""The trading engine: policy, conviction filter, risk engine, execution, trader loop."""
