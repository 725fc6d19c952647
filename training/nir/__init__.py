"""NIR (Neuromorphic Intermediate Representation) in and out: ``anamorph export`` / ``anamorph import``."""
