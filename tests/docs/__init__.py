"""Tests that keep docs/ and README.md true to the compiled bundle."""
