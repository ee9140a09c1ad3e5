"""The base's example connector: an in-memory notebook, and a template for real connectors."""
