"""Tests of padless.models."""
