"""Prompt-injection detection: canonical text, rules, hashed n-gram features and the shipped classifier."""
