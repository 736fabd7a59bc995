"""AWS adapters: S3 blob store, DynamoDB job store, Rekognition analyzers, the Secrets
Manager de-identification key.

Imported only in AWS mode (see :mod:`dicomlens.bootstrap`); needs the ``aws`` extra
(boto3). Every adapter takes a ready botocore client so tests can hand it moto's or a
Stubber's; :mod:`dicomlens.adapters.aws.factory` builds the real ones from Settings.
"""
