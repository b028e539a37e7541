"""Deployment gates as pure rules: what a rule says, how it is evaluated, how config becomes rules."""
