"""The StanceFrame BentoML service."""
