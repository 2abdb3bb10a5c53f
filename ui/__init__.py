"""The Gradio chat page: a thin adapter over the assistant."""
