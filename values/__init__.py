"""Values and errors every layer shares: the bottom of the house."""
