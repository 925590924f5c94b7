"""The gemgate gateway: an aiohttp app in front of Google's Gemini APIs (`gemgate`)."""

from gemgate.proxy.app import create_app
from gemgate.proxy.config import ConfigError, ProxyConfig, load_config, parse_config

__all__ = ["ConfigError", "ProxyConfig", "create_app", "load_config", "parse_config"]
