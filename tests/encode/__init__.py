"""Tests of padless.encode."""
