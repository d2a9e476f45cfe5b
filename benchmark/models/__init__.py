"""VideoMAE (official names and numerics), checkpoint import, and the models a protocol builds."""
