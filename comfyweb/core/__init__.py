"""Project-wide glue: system checks, context processors and the base layout."""
