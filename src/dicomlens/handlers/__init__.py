"""Lambda entry points (Powertools): create_upload, get_results, deidentify, process_image.

Each entry-point module holds its router, its resolver and a thin handler; what they share
is declared once beside them: :mod:`~dicomlens.handlers.observability` (logger, tracer,
metrics), :mod:`~dicomlens.handlers.resolver` (the resolver factory and the error mapping),
:mod:`~dicomlens.handlers.models` (the API's bodies) and :mod:`~dicomlens.handlers.openapi`
(the document). Services come from :func:`dicomlens.bootstrap.get_services` on first use.
The local runtime calls these same ``handler`` functions with the same event shapes.
"""

import gc
import os

if os.environ.get("_HANDLER", "").startswith(f"{__name__}."):
    # A Lambda execution environment running one of these handlers: no cyclic garbage
    # collection while init imports and builds (thousands of long-lived objects, scanned again
    # and again for nothing); bootstrap.build_during_lambda_init turns it back on at the end.
    gc.disable()
