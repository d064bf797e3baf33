"""Data sets of this project: each module loads one and returns trainkit's ArrayData."""
