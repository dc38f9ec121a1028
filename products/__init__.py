"""The products service: the catalogue, and stock taken (or released) per order."""
