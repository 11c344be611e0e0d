"""Evaluation: rollouts of trained agents, results tables, trajectory plots and GIFs."""
