"""Deploy and rollback as use cases, and the ``[deploy]`` configuration that applies to a product."""
