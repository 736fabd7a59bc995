"""What the project's standards mandate in every Lambda function, and nothing of dicomlens.

Imported first by the ``seed_floor_*`` handlers (bench/bench_cold_start.py): Powertools'
Logger, Metrics and Tracer (Tracing: Active, so the Tracer patches botocore before the seed
creates its client), one pydantic-settings class read from the environment and one pydantic
model (the shape of a results document). The seed plus this is the floor under dicomlens'
cold start: no choice of ours can bring a function below it while it uses these libraries.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

tracer = Tracer(service="seed")
logger = Logger(service="seed")
metrics = Metrics(namespace="seed", service="seed")


class Config(BaseSettings):
    """One setting, read from ``DICOMLENS_*`` as dicomlens reads its settings."""

    model_config = SettingsConfigDict(env_prefix="DICOMLENS_", frozen=True, extra="ignore")
    bucket_name: str = ""


class Result(BaseModel):
    """One model, built (validated) at init as dicomlens builds its result models."""

    key: str
    preview: str | None = None


config = Config()
