"""s3/bucket against a real moto_server on loopback (not patched in-process)."""

from __future__ import annotations

import asyncio

import boto3
import pytest
from conftest import CREDS
from nvisy_s3 import Bucket

from nvisy_plugin import Object, PermanentError


def _client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_write_read_resume_multipart(moto_endpoint: str) -> None:
    _client(moto_endpoint).create_bucket(Bucket="py-bucket")
    cfg = {"bucket": "py-bucket", "prefix": "in/", "endpoint_url": moto_endpoint,
           "multipart_threshold": 5 * 1024 * 1024, "multipart_chunk_size": 5 * 1024 * 1024}
    bucket = Bucket.create(cfg, CREDS)
    big = bytes(range(256)) * (6 * 4096)  # 6 MiB: two parts

    async def go() -> list[Object]:
        await bucket.check()
        await bucket.write([Object("a.txt", b"alpha", {"contentType": "text/plain"}), Object("sub/b.bin", memoryview(big)),
                            Object("c.txt", b"gamma")])
        return [o async for o in bucket.read(None)]

    got = asyncio.run(go())
    assert [o.path for o in got] == ["a.txt", "c.txt", "sub/b.bin"]
    assert [o.resume_token for o in got] == ["a.txt", "c.txt", "sub/b.bin"]
    assert bytes(got[0].data) == b"alpha" and got[0].metadata["contentType"] == "text/plain"
    assert bytes(got[2].data) == big
    assert got[2].metadata["etag"].endswith("-2"), got[2].metadata["etag"]  # a multipart upload
    assert got[2].metadata["key"] == "in/sub/b.bin"

    async def resumed() -> list[str]:
        return [o.path async for o in bucket.read("a.txt")]

    assert asyncio.run(resumed()) == ["c.txt", "sub/b.bin"]


def test_missing_bucket_is_permanent(moto_endpoint: str) -> None:
    bucket = Bucket.create({"bucket": "no-such-bucket", "endpoint_url": moto_endpoint}, CREDS)
    with pytest.raises(PermanentError, match="no-such-bucket"):
        asyncio.run(bucket.check())
