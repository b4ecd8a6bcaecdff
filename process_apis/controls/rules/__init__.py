"""Versioned validation rule set files (`<name>-v<n>.json`)."""
