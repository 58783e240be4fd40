"""tears-bench: controllability evaluation for TEARS (arXiv 2410.19302)."""

__version__ = "0.1.0"
