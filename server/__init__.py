"""Serving the app: who may use it (auth), the production WSGI server (gunicorn), and /metrics.

Flask-side code shared by every route of the Dash server; the engine never imports it.
"""
