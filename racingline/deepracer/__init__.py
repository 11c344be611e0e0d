"""DeepRacer compatibility: its reward functions, action spaces and logs."""
