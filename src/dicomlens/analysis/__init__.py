"""The analysis pipeline: decode -> render -> metadata -> labels -> result."""
