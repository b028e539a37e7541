"""Deployment gates: where rules come from, the facts they need and what a verdict does."""
