"""Pure OpenAI ↔ Gemini translation: JSON-shaped dicts in, dicts out; no I/O, clock or environment."""
