"""The running service around the core: settings, logs, metrics and the gunicorn server.

Modules here import the core and the standard library, never the web layer, and
the gunicorn config imports nothing that would load Flask or prometheus_client
before it has prepared the environment they read.
"""
