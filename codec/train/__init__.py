"""Training: data, losses and the loop (rate-distortion stage)."""
