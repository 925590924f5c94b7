"""gemgate: a gateway to Google's Gemini models (OpenAI-format SDK, proxy, pass-through, emulator)."""

__version__ = "0.1.0"
