"""Recommenders: popularity, content, collaborative and their hybrid."""
