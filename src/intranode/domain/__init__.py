"""Pure rules: resource models, validation, naming, plans. Imports no I/O layer."""
