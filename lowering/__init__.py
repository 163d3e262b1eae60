"""Lowering: pipelines, kept as data, from linalg on tensors to code a target runs."""
