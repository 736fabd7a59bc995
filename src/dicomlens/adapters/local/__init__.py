"""Local adapters: blobs as files under a data directory, jobs in SQLite, HMAC-signed URLs."""
