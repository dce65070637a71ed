"""Tests of padless.serve."""
