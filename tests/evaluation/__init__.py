"""Tests of padless.evaluation."""
