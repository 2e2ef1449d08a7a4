"""Pipelines that tie the rooms together and own the run directory."""
