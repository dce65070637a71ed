"""padless tests: one folder per package of src/padless, tests named after the module they test."""
