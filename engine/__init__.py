"""Self-improving trading-signal engine: a plain Python package with no web framework inside."""
