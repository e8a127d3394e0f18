"""Prometheus over HTTPS: the CA of SSL_CERT_FILE is trusted (requests ignores it by itself)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from prs_helpers import T0
from pytest_httpserver import HTTPServer

from oncall.config import Settings
from oncall.integrations.prometheus import QUERIES, build_live_evidence


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_prometheus(ca: trustme.CA) -> Iterator[HTTPServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request(
        "/api/v1/query", query_string={"query": QUERIES["predictions"]}
    ).respond_with_json(
        {
            "status": "success",
            "data": {
                "resultType": "vector",
                "result": [{"metric": {"model": "churn"}, "value": [T0.timestamp(), "1"]}],
            },
        }
    )
    server.expect_request("/api/v1/query").respond_with_json(
        {"status": "success", "data": {"resultType": "vector", "result": []}}
    )
    server.expect_request("/api/v1/rules").respond_with_json(
        {"status": "success", "data": {"groups": []}}
    )
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def test_the_ca_in_ssl_cert_file_is_trusted(
    ca: trustme.CA, https_prometheus: HTTPServer, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    settings = Settings(
        ONCALL_PROMETHEUS_URL=https_prometheus.url_for("/").rstrip("/"), SSL_CERT_FILE=str(bundle)
    )
    live = build_live_evidence(settings)
    assert live is not None
    found = live.readings(now=T0)
    assert found.error is None
    assert found.predictions == frozenset({"churn"})
    sent = [request.path for request, _ in https_prometheus.log]
    assert sent.count("/api/v1/query") == len(QUERIES) and sent.count("/api/v1/rules") == 1


def test_without_the_ca_the_readings_say_tls_failed(https_prometheus: HTTPServer) -> None:
    settings = Settings(ONCALL_PROMETHEUS_URL=https_prometheus.url_for("/").rstrip("/"))
    live = build_live_evidence(settings)
    assert live is not None
    found = live.readings(now=T0)
    assert found.error is not None and "TLS verification failed" in found.error
