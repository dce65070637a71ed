"""Tests of padless.data."""
