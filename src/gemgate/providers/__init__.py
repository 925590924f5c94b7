"""Where and how to reach Google: the Gemini Developer API and Vertex AI behind one protocol."""
