"""Tests against the real container stack, brought up with docker compose."""
