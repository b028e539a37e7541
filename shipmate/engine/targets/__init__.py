"""Deploy targets: how a version starts and stops in a slot (process, docker, command)."""
