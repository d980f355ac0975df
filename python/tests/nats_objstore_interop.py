"""nats-py's object store as a peer for NvisyNATS's interop tests and benchmark.

    put   URL BUCKET NAME FILE      store FILE as NAME (creating the bucket), print its info as JSON
    get   URL BUCKET NAME OUTFILE   read NAME into OUTFILE, print its info as JSON (fails on a digest mismatch)
    bench URL BUCKET FILE           put FILE then get it back, print {"put_seconds", "get_seconds", "size"}
"""
import asyncio
import json
import sys
import time

import nats


async def connect(url):
    nc = await nats.connect(url, max_reconnect_attempts=0)
    return nc, nc.jetstream()


async def bucket(js, name):
    try:
        return await js.object_store(name)
    except Exception:
        return await js.create_object_store(name)


def info_json(info):
    return json.dumps({"name": info.name, "size": info.size, "chunks": info.chunks,
                       "digest": info.digest, "nuid": info.nuid})


async def put(url, bucket_name, name, path):
    nc, js = await connect(url)
    try:
        obs = await bucket(js, bucket_name)
        with open(path, "rb") as f:
            info = await obs.put(name, f)
        print(info_json(info))
    finally:
        await nc.close()


class Sink:
    """A writer for nats-py's get(writeinto=...): streams to a file."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        return self.f.write(data)


async def get(url, bucket_name, name, out):
    nc, js = await connect(url)
    try:
        obs = await js.object_store(bucket_name)
        with open(out, "wb") as f:
            result = await obs.get(name, writeinto=Sink(f))
        print(info_json(result.info))
    finally:
        await nc.close()


async def bench(url, bucket_name, path):
    nc, js = await connect(url)
    try:
        obs = await bucket(js, bucket_name)
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            info = await obs.put("bench-py", f)
        t1 = time.perf_counter()
        with open(path + ".py-out", "wb") as f:
            await obs.get("bench-py", writeinto=Sink(f))
        t2 = time.perf_counter()
        await obs.delete("bench-py")
        print(json.dumps({"put_seconds": t1 - t0, "get_seconds": t2 - t1, "size": info.size}))
    finally:
        await nc.close()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"put": put, "get": get, "bench": bench}[cmd]
    asyncio.run(fn(*args))


if __name__ == "__main__":
    main()
