"""The explanation of a claim (docs/EXPLAIN.md): every figure the engine computed, with its
formula, the numbers put in and why, in the billing team's words. Reads `models.cob`'s figures;
computes none of its own."""
