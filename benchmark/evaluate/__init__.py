"""Multi-view evaluation, test views, UCF101-P perturbations and low-data subsets."""
