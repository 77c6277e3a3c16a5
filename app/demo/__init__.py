"""Demo data for trying Quanyi on one machine: `quanyi demo seed`."""
