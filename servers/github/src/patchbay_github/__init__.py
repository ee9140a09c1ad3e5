"""Patchbay GitHub connector."""

__version__ = "0.1.0"
