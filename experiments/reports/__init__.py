"""The paper's studies read back: verdicts and their statistics' tables, figures, the claim x data
source matrix, the default job's measured results and the science checks."""
