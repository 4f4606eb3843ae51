"""challenger: prove that a new model beats the one in production before it ships."""

__version__ = "0.1.0"
