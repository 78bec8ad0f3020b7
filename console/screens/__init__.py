"""Modal screens and flows of the console."""
