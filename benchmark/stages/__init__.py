"""The stages of a run, one module each; `base.py` holds the Stage contract and the registry, which imports every
module here when it is first read."""
