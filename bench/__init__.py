"""Side-by-side benchmarks against the tools a user would pick instead. Not a CI gate: `python -m bench`."""
