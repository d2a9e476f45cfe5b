"""Readers of result records: statistics, tables in every format, plots, paper tables, the leaderboard, the
regression check and FLOP counts."""
