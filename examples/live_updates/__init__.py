"""Live updates over server-sent events: see app.py."""
