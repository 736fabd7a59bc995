"""Plain-Python domain: errors, jobs and their transitions, analysis results, object keys."""
