"""Clip sources: where pretraining clips come from. One module per source family; `base.py` holds the contract
and the registry, which imports every module here when it is first read."""
