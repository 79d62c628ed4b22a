"""Atalaya: the operations hub for managed service providers."""
