"""Benchmarks (`make bench`): not tests; CI does not run them, a smoke test runs them on tiny sizes."""
