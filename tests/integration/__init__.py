"""Whole pipelines: integrations/ scripts, benchmark smoke runs, the docs' examples, threads and worker processes."""
