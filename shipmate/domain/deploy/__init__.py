"""A product's ``[deploy]`` table: its parsed values, its sections and the templates they hold."""
