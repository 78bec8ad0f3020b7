"""Configuration: schema, loading with env overrides, and secrets."""

from engine.config.load import ConfigError, load_config
from engine.config.schema import Config

__all__ = ["Config", "ConfigError", "load_config"]
