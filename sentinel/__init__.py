"""Sentinel: network and security monitoring for school sites."""

__version__ = "0.1.0"
