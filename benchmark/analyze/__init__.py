"""Dataset properties of pretraining sources (Yu et al. 2024 Section 5) and their correlation with accuracy."""
