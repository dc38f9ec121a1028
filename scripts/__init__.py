"""Scripts behind make run and make test."""
