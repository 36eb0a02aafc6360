"""From a Hydra config to checked inputs: validation with one-line errors, the job's data and its
degradations, the search space."""
