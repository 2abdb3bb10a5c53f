"""Turning files into passages: load, find structure, split with exact offsets, and the ingest pipeline."""
