"""The products service: the catalogue, stock, and stock reservations for orders."""
