"""The local runtime behind ``dicomlens serve``: API Gateway and S3 emulation, a durable
event queue and a worker pool, all calling the same Lambda handlers as AWS."""
