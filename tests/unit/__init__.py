"""Tests of one module (or one concern of the core) each."""
