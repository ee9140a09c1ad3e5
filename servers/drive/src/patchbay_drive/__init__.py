"""Patchbay Google Drive connector."""

__version__ = "0.1.0"
