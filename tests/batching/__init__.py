"""Tests of padless.batching."""
