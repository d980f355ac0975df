"""nvisy provider ``s3/bucket``: objects in and out of an S3 bucket (AWS, MinIO, any S3 API).

Source: every object under ``prefix`` in key order; the resume token is the key (relative to
``prefix``) of the last object, so a run resumes with ``StartAfter``. Sink: writes each item's
payload to ``prefix + metadata.path``; payloads of ``multipart_threshold`` bytes or more go up
as a multipart upload. Blocking boto3 calls run in worker threads, off the host's Python loop.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from pydantic import BaseModel, Field

from nvisy_plugin import InvalidConfig, Object, PermanentError, Sink, Source, TransientError, Unauthorized

__version__ = "0.1.0"

MiB = 1024 * 1024


class BucketConfig(BaseModel):
    bucket: str = Field(min_length=3, description="The bucket name.")
    prefix: str = Field("", description="Only keys under this prefix; written keys get it prepended.")
    endpoint_url: str | None = Field(None, description="For MinIO or any S3-compatible service, e.g. http://127.0.0.1:9000.")
    region: str = Field("us-east-1", description="The bucket's region.")
    multipart_threshold: int = Field(8 * MiB, ge=5 * MiB, description="Payloads this large or larger use multipart upload.")
    multipart_chunk_size: int = Field(8 * MiB, ge=5 * MiB, description="Part size of multipart uploads.")


class BucketCredentials(BaseModel):
    access_key_id: str | None = Field(None, description="Omit to use the default AWS credential chain.")
    secret_access_key: str | None = None
    session_token: str | None = None


_UNAUTHORIZED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "403"}
_TRANSIENT = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable",
              "500", "502", "503", "504"}


def _mapped(e: Exception, what: str) -> Exception:
    if isinstance(e, ClientError):
        code = str(e.response.get("Error", {}).get("Code", ""))
        msg = f"{what}: {code}: {e.response.get('Error', {}).get('Message', e)}"
        if code in _UNAUTHORIZED:
            return Unauthorized(msg)
        if code in _TRANSIENT:
            return TransientError(msg)
        return PermanentError(msg)
    if isinstance(e, EndpointConnectionError):
        return TransientError(f"{what}: {e}")
    if isinstance(e, BotoCoreError):
        return TransientError(f"{what}: {e}")
    return e


class Bucket(Source[BucketConfig], Sink[BucketConfig]):
    """Objects in and out of an S3 bucket."""

    name = "bucket"
    data_type = "object"
    config_model = BucketConfig
    credentials_model = BucketCredentials

    def __init__(self, config: BucketConfig, credentials: BucketCredentials | None = None) -> None:
        super().__init__(config, credentials)
        c = credentials or BucketCredentials()
        if bool(c.access_key_id) != bool(c.secret_access_key):
            raise InvalidConfig("credentials: give both access_key_id and secret_access_key, or neither")
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=config.endpoint_url, region_name=config.region,
            aws_access_key_id=c.access_key_id, aws_secret_access_key=c.secret_access_key,
            aws_session_token=c.session_token,
            config=BotoConfig(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60))
        self.transfer = TransferConfig(multipart_threshold=config.multipart_threshold,
                                       multipart_chunksize=config.multipart_chunk_size, use_threads=False)

    async def _run(self, what: str, fn: Any, /, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, **kwargs)
        except Exception as e:
            raise _mapped(e, what) from e

    async def check(self) -> None:
        await self._run(f"bucket {self.config.bucket}", self.client.head_bucket, Bucket=self.config.bucket)

    async def read(self, after: str | None) -> AsyncIterator[Object]:
        cfg = self.config
        token: str | None = None
        start_after = cfg.prefix + after if after else None
        while True:
            args: dict[str, Any] = {"Bucket": cfg.bucket, "Prefix": cfg.prefix}
            if token:
                args["ContinuationToken"] = token
            elif start_after:
                args["StartAfter"] = start_after
            page = await self._run(f"list s3://{cfg.bucket}/{cfg.prefix}", self.client.list_objects_v2, **args)
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if key.endswith("/"):
                    continue
                got = await self._run(f"get s3://{cfg.bucket}/{key}", self.client.get_object, Bucket=cfg.bucket, Key=key)
                body = await asyncio.to_thread(got["Body"].read)
                rel = key[len(cfg.prefix):]
                yield Object(rel, body, {
                    "size": len(body), "etag": str(got.get("ETag", "")).strip('"'),
                    "modified": got["LastModified"].isoformat() if got.get("LastModified") else None,
                    "contentType": got.get("ContentType"), "bucket": cfg.bucket, "key": key,
                }, resume_token=rel)
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    async def write(self, items: list[Object]) -> None:
        cfg = self.config
        for item in items:
            if not item.path:
                raise PermanentError("an object to write has no metadata.path")
            key = cfg.prefix + item.path.lstrip("/")
            extra = {"ContentType": item.metadata["contentType"]} if item.metadata.get("contentType") else {}
            size = memoryview(item.data).nbytes
            where = f"put s3://{cfg.bucket}/{key}"
            if size >= cfg.multipart_threshold:
                await self._run(where, self.client.upload_fileobj, Fileobj=io.BytesIO(item.data), Bucket=cfg.bucket,
                                Key=key, ExtraArgs=extra or None, Config=self.transfer)
            else:
                await self._run(where, self.client.put_object, Bucket=cfg.bucket, Key=key, Body=bytes(item.data), **extra)


PROVIDERS = [Bucket]
