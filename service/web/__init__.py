"""The HTTP layer: the Flask application, its Blueprints, problem answers and the OpenAPI document.

It imports the core (to compute) and the runtime (settings, logs, metrics);
neither of those imports anything from here.
"""
