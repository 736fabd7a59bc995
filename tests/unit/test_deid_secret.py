"""The de-identification key: a configured value, the Secrets Manager secret named by
``DICOMLENS_DEID_SECRET_ARN`` (read once per process), or the generated key file.

Secrets Manager is botocore's Stubber with responses of the documented shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from dicomlens import bootstrap
from dicomlens.adapters.aws import factory
from dicomlens.adapters.aws.secrets import SecretsManagerKey, secret_region
from dicomlens.config import Settings
from dicomlens.deid import secret
from dicomlens.domain.errors import DicomlensError, ErrorCode
from fake_world import FakeWorld

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:dicomlens-dev-deid-key-AbCdEf"
KEY = "k" * 64


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber, list[str | None]]]:
    """A stubbed Secrets Manager client handed to the AWS factory, and the regions it was
    asked for."""
    stubbed = boto3.session.Session().client(
        "secretsmanager",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - stubbed, never sent
    )
    regions: list[str | None] = []

    def make(service: str, *, region: str | None, **kwargs: Any) -> Any:
        assert service == "secretsmanager"
        regions.append(region)
        return stubbed

    monkeypatch.setattr(factory, "make_client", make)
    with Stubber(stubbed) as stubber:
        yield stubbed, stubber, regions
        stubber.assert_no_pending_responses()


def _value(arn: str = ARN, value: str = KEY) -> dict[str, Any]:
    return {
        "ARN": arn,
        "Name": "dicomlens-dev-deid-key",
        "VersionId": "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE",
        "SecretString": value,
        "VersionStages": ["AWSCURRENT"],
    }


def test_the_arn_reads_the_secret_once_per_process(
    client: tuple[Any, Stubber, list[str | None]], tmp_path: Path
) -> None:
    _, stubber, regions = client
    stubber.add_response("get_secret_value", _value(), {"SecretId": ARN})
    settings = Settings(mode="aws", data_dir=tmp_path, deid_secret_arn=ARN)
    services = FakeWorld(settings).services
    assert services.deid_profile == settings.deid_options(KEY.encode())
    # kept: no second call (the Stubber would refuse one with no response queued)
    assert services.deid_profile.secret == KEY.encode()
    assert regions == ["eu-west-1"]  # the secret's own region, from its ARN
    assert not (tmp_path / secret.SECRET_FILE).exists()  # nothing written locally


def test_a_configured_key_wins_over_the_arn(
    client: tuple[Any, Stubber, list[str | None]], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, deid_secret="configured-key", deid_secret_arn=ARN)  # noqa: S106 - a test key
    assert bootstrap.deid_key(settings) == b"configured-key"
    assert client[2] == []  # Secrets Manager never asked


@pytest.mark.parametrize(
    "code", ["AccessDeniedException", "ResourceNotFoundException", "DecryptionFailure"]
)
def test_client_errors_become_deidentification_failed(
    client: tuple[Any, Stubber, list[str | None]], tmp_path: Path, code: str
) -> None:
    _, stubber, _ = client
    stubber.add_client_error(
        "get_secret_value", service_error_code=code, http_status_code=400, expected_params=None
    )
    services = FakeWorld(Settings(mode="aws", data_dir=tmp_path, deid_secret_arn=ARN)).services
    with pytest.raises(DicomlensError) as raised:
        _ = services.deid_profile
    assert raised.value.code is ErrorCode.DEIDENTIFICATION_FAILED
    assert code in str(raised.value)
    assert isinstance(raised.value.__cause__, ClientError)  # raised ... from the ClientError
    assert ARN not in str(raised.value)
    # a failure is not kept: the next request asks again
    stubber.add_response("get_secret_value", _value(), {"SecretId": ARN})
    assert services.deid_profile.secret == KEY.encode()


def test_an_empty_secret_is_refused(
    client: tuple[Any, Stubber, list[str | None]], tmp_path: Path
) -> None:
    _, stubber, _ = client
    stubber.add_response("get_secret_value", _value(value=" "), {"SecretId": ARN})
    with pytest.raises(DicomlensError) as raised:
        bootstrap.deid_key(Settings(mode="aws", data_dir=tmp_path, deid_secret_arn=ARN))
    assert raised.value.code is ErrorCode.DEIDENTIFICATION_FAILED


def test_the_adapter_reads_the_secret_string_with_the_client_it_is_given() -> None:
    stubbed = boto3.session.Session().client(
        "secretsmanager",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - stubbed, never sent
    )
    with Stubber(stubbed) as stubber:
        stubber.add_response("get_secret_value", _value(value=f" {KEY}\n"), {"SecretId": ARN})
        assert SecretsManagerKey(stubbed).read(ARN) == KEY.encode()
    assert secret_region(ARN) == "eu-west-1"
    assert secret_region("dicomlens-dev-deid-key") is None  # a name: botocore's own region


def test_local_mode_keeps_a_generated_key_file(tmp_path: Path) -> None:
    first = secret.load_or_create_key(tmp_path)
    assert len(first) == 64
    assert secret.load_or_create_key(tmp_path) == first
    assert (tmp_path / secret.SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert bootstrap.deid_key(Settings(mode="local", data_dir=tmp_path)) == first


def test_aws_mode_refuses_without_any_key(tmp_path: Path) -> None:
    services = FakeWorld(Settings(mode="aws", data_dir=tmp_path)).services
    with pytest.raises(DicomlensError) as raised:
        _ = services.deid_profile
    assert raised.value.code is ErrorCode.DEIDENTIFICATION_FAILED
    assert not (tmp_path / secret.SECRET_FILE).exists()  # no key invented in AWS mode
