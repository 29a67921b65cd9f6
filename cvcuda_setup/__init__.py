"""cvcuda-setup: turn a GPU host into a verified CUDA-enabled OpenCV installation."""

__version__ = "0.1.0"
