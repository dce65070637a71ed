"""Tests of padless.deploy."""
