"""fdd: Feedback-Driven Distillation of math reasoning into small language models."""

__version__ = "0.1.0"
