"""The optimizer-step loop, optimizers and schedules, VideoMAE pretraining and finetuning."""
