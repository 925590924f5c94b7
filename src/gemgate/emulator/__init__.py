"""An offline emulator of Google's Gemini Developer API and Vertex AI (`gemgate emulate`)."""

from gemgate.emulator.app import create_emulator_app
from gemgate.emulator.settings import EmulatorSettings, ServiceAccount

__all__ = ["EmulatorSettings", "ServiceAccount", "create_emulator_app"]
