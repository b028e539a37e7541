"""What tests and benchmarks share and the product does not ship: a throwaway
PostgreSQL server and a `shipmate serve` process.  (The settable clock, nginx and free
ports live in :mod:`shipmate.demo`, which needs them at run time.)"""
