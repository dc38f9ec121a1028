"""`make bench`: the system's routes against plain Nameko baselines, in one run."""
