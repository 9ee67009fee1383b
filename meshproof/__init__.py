"""meshproof: prove with live traffic that a service mesh enforces mutual TLS."""

__version__ = "0.1.0"
