"""The record of builds and deployments: allocation, recording, repeats, rollback marks."""
