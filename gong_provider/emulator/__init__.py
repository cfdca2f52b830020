"""A local Gong CRM API server for demos, tests and benchmarks."""
