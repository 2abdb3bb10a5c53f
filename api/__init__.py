"""The open doors beside the page: the HTTP API, the OpenAI-compatible endpoint, the MCP server, keys."""
