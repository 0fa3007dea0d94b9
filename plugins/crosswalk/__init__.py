"""Crosswalk: governed data exchange between health and social-care organisations."""

__version__ = "0.1.0"
