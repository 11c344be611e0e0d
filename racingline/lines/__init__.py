"""Line following and (coming) racing-line optimisation: scripted drivers that read the car state."""
