"""Partner shares: a school's data for its own local authority, trust and diocese, and nobody else."""
