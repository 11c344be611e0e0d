"""Driving data: datasets of laps (Minari), the drivers that make them, human driving, behaviour cloning."""
