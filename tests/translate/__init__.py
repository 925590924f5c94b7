"""Tests of the pure OpenAI <-> Gemini translation."""
