"""The I/O-free parts of applications and blueprints: registration and routing."""
