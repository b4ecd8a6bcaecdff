"""Versioned mapping-set data files (`<name>.json`); read them with `process_apis.controls.load_mapping_set`."""

__all__: list[str] = []
