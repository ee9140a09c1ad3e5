"""Patchbay Amazon S3 connector."""

__version__ = "0.1.0"
