"""Checkpoints read safely, resumes checked, and Ctrl-C / SIGTERM turned into a clean stop."""
