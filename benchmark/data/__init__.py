"""Decoding, image pools, textures, sampling and transforms, splits and the torch Datasets of training."""
