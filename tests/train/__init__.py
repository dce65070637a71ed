"""Tests of padless.train."""
