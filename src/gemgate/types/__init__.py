"""JSON shapes on the wire, as TypedDicts: Gemini's (gemini.py) and OpenAI's (openai.py)."""
