"""Downstream tasks: labelled video sets with train and test splits. One module per family; `base.py` holds the
contract and the registry, which imports every module here when it is first read."""
