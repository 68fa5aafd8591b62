"""A legacy WSGI application moved to diota route by route: see app.py."""
