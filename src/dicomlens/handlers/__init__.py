"""Lambda entry points (Powertools): create_upload, process_image, get_results.

Each module holds only its module-level logger, tracer, metrics and resolver and a thin
handler; services come from :func:`dicomlens.bootstrap.get_services` on first use. The local
runtime calls these same ``handler`` functions with the same event shapes.
"""
