"""The edges: the composition root and the CLI (the page lives in ui/)."""
