"""Versioned exception policy files (`<name>-v<n>.json`): owner, severity, SLA and retry per reason."""
