"""The HTTP routes, one module per feature; ``shipmate.api.app`` registers them."""
