"""The image viewer served beside the page (OHIF)."""
