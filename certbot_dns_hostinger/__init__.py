"""Hostinger DNS authenticator for certbot (manual written in docs)."""

__version__ = "0.1.0"
