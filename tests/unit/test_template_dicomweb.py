"""The template's DICOMweb function: its route, its switch (only with the JWT authorizer),
its limits and a role that reaches only the instances, their metadata and the index."""

from __future__ import annotations

from test_template import (
    TEMPLATE,
    UPLOAD_BUCKET_NAME,
    actions,
    props,
    statements,
    subbed,
)

from dicomlens.local.routes import http_routes

BUCKET = f"arn:${{AWS::Partition}}:s3:::{UPLOAD_BUCKET_NAME}"


def test_one_proxy_route_to_the_dicomweb_handler() -> None:
    routes = {(r.method, r.path): r for r in http_routes(TEMPLATE)}
    route = routes[("ANY", "/dicomweb/{proxy+}")]
    assert route.handler == "dicomlens.handlers.dicomweb.handler"
    assert route.function == "DicomWebFunction"
    # the route's operation carries the JWT requirement like every other API route
    operation = TEMPLATE["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]["paths"][
        "/dicomweb/{proxy+}"
    ]["x-amazon-apigateway-any-method"]
    assert operation["security"]["Fn::If"][0] == "UseJwtAuth"


def test_dicomweb_is_served_only_together_with_the_jwt_authorizer() -> None:
    assert TEMPLATE["Parameters"]["EnableDicomWeb"]["Default"] == "false"
    condition = TEMPLATE["Conditions"]["UseDicomWeb"]["Fn::And"]
    assert {"Fn::Condition": "UseJwtAuth"} in condition
    assert {"Fn::Equals": [{"Ref": "EnableDicomWeb"}, "true"]} in condition
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["DICOMLENS_DICOMWEB"] == {"Fn::If": ["UseDicomWeb", "true", "false"]}
    assert env["DICOMLENS_INSTANCE_TABLE_NAME"] == {"Ref": "InstanceIndexTable"}


def test_function_limits_fit_api_gateway_and_lambda() -> None:
    function = props("DicomWebFunction")
    assert function["Timeout"] < 30  # the HTTP API's integration limit
    env = function["Environment"]["Variables"]
    assert int(env["DICOMLENS_STOW_MAX_BODY_BYTES"]) <= 10 * 1024 * 1024
    # Lambda's 6 MB response holds the answer base64-encoded (4/3 larger)
    assert int(env["DICOMLENS_DICOMWEB_MAX_RESPONSE_BYTES"]) * 4 / 3 < 6 * 1024 * 1024
    # larger answers are built in memory, then stored for a 303: they fit the memory
    assert int(env["DICOMLENS_DICOMWEB_MAX_RETRIEVE_BYTES"]) * 3 < function["MemorySize"] * 2**20


def test_large_answers_expire_after_a_day() -> None:
    rules = props("UploadBucket")["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if r["Id"] == "expire-dicomweb-answers"]
    assert (rule["Status"], rule["Prefix"], rule["ExpirationInDays"]) == (
        "Enabled",
        "dicomweb-answers/",
        1,
    )
    # outside uploads/: storing an answer starts no processing
    notification = props("UploadBucket")["NotificationConfiguration"]["QueueConfigurations"]
    assert all("dicomweb-answers" not in str(q) for q in notification)


def test_dicomweb_role_is_least_privilege() -> None:
    found = statements("DicomWebRole")
    assert actions(found["ReadInstances"]) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert actions(found["StoreInstances"]) == {"s3:PutObject"}
    written = [
        f"{BUCKET}/derived/*/dicomweb-metadata.json",
        f"{BUCKET}/dicomweb-answers/*",
        f"{BUCKET}/uploads/*",
    ]
    assert sorted(subbed(r) for r in found["StoreInstances"]["Resource"]) == written
    # the analysis reports (POST /jobs/{jobId}/report), and nothing else of derived/
    reports = [
        f"{BUCKET}/derived/*/{name}"
        for name in (
            "analysis-report.dcm",
            "analysis-report-metadata.json",
            "deidentified-report.dcm",
        )
    ]
    assert actions(found["WriteReports"]) == {"s3:PutObject"}
    assert sorted(subbed(r) for r in found["WriteReports"]["Resource"]) == sorted(reports)
    assert actions(found["ReadJobs"]) == {"dynamodb:GetItem"}
    assert found["ReadJobs"]["Resource"] == {"Fn::GetAtt": "ResultsTable.Arn"}
    # it reads what it writes, the default renditions and frame layouts the processor
    # keeps, and the de-identified copy a report is made of
    kept = ["dicomweb-rendered-1.jpg", "dicomweb-frames.json", "deidentified.dcm"]
    assert sorted(subbed(r) for r in found["ReadInstances"]["Resource"]) == sorted(
        [*written, *reports, *(f"{BUCKET}/derived/*/{name}" for name in kept)]
    )
    assert actions(found["CreateJobs"]) == {"dynamodb:PutItem"}
    assert found["CreateJobs"]["Resource"] == {"Fn::GetAtt": "ResultsTable.Arn"}
    index = found["IndexInstances"]
    assert not any(a in actions(index) for a in ("dynamodb:Scan", "dynamodb:DeleteTable"))
    assert index["Resource"][0] == {"Fn::GetAtt": "InstanceIndexTable.Arn"}


def test_processor_indexes_only_with_dicomweb_on() -> None:
    (entry,) = [
        s
        for s in props("ProcessImageRole")["Policies"][0]["PolicyDocument"]["Statement"]
        if "Fn::If" in s and s["Fn::If"][0] == "UseDicomWeb"
    ]
    statement = entry["Fn::If"][1]
    assert statement["Resource"] == {"Fn::GetAtt": "InstanceIndexTable.Arn"}
    assert "dynamodb:Scan" not in actions(statement)


def test_the_report_route_is_served_by_the_dicomweb_function_with_the_jwt() -> None:
    events = props("DicomWebFunction")["Events"]
    assert events["Report"]["Properties"]["Path"] == "/jobs/{jobId}/report"
    assert events["Report"]["Properties"]["Method"] == "POST"
    paths = props("HttpApi")["DefinitionBody"]["paths"]
    security = paths["/jobs/{jobId}/report"]["post"]["security"]
    assert security == paths["/jobs/{jobId}"]["get"]["security"]


def test_automatic_analysis_reports_are_opt_in_and_need_dicomweb() -> None:
    # Given the parameter (off by default), the processor writes reports after analysis only
    # when it is on and the stack serves DICOMweb (the report is a series in the index)
    assert TEMPLATE["Parameters"]["EnableAnalysisReports"]["Default"] == "false"
    condition = TEMPLATE["Conditions"]["UseAnalysisReports"]["Fn::And"]
    assert {"Fn::Equals": [{"Ref": "EnableAnalysisReports"}, "true"]} in condition
    assert {"Fn::Condition": "UseDicomWeb"} in condition
    processor = TEMPLATE["Resources"]["ProcessImageFunction"]["Properties"]
    env = processor["Environment"]["Variables"]
    assert env["DICOMLENS_REPORTS_AUTO"] == {"Fn::If": ["UseAnalysisReports", "true", "false"]}
