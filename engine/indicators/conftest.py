"""Doctest collection: without TA-Lib, its backend module cannot be imported (by design: that is
how ``load_backend("auto")`` falls back to numpy), so it is not collected then."""
import importlib

try:
    importlib.import_module("talib")
    collect_ignore = []
except ImportError:
    collect_ignore = ["talib_backend.py"]
