#!/usr/bin/env python3
"""Load clients for tests/e2e/load_connections.sh (standard library only).

  keepalive PROXY_PORT ORIGIN_URL CONNECTIONS REQUESTS
      Opens CONNECTIONS keep-alive connections to the proxy at once, sends
      one request on each, waits until every connection has its response,
      then sends REQUESTS - 1 more on each. Prints a JSON summary: how many
      responses were 200 with the whole body, how many connections were
      open together at most, and the slowest response in milliseconds.

  slow PROXY_PORT ORIGIN_URL CONNECTIONS BYTES_PER_SECOND
      Opens CONNECTIONS connections that send a request head one byte at a
      time and never finish it. Prints a JSON summary with, for each
      connection, the seconds until the proxy closed it (null when it was
      still open after 60 s), and what the proxy sent before closing.

  hold PROXY_PORT CONNECTIONS SECONDS
      Opens up to CONNECTIONS idle connections and keeps them SECONDS;
      prints how many the proxy accepted.

Every connection goes to 127.0.0.1.
"""

import asyncio
import json
import sys
import time
import urllib.parse


async def read_response(reader):
    """Reads one response with a Content-Length body; returns (status,
    body length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length)
    return status, len(body)


async def keepalive(port, url, connections, requests):
    target = urllib.parse.urlsplit(url)
    ok = 0
    slowest = 0.0
    open_now = 0
    open_max = 0
    first_done = 0
    all_first = asyncio.Event()

    async def one(i):
        nonlocal ok, slowest, open_now, open_max, first_done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        open_now += 1
        open_max = max(open_max, open_now)
        try:
            for k in range(requests):
                if k == 1:
                    await all_first.wait()
                start = time.monotonic()
                writer.write(("GET %s?c=%d&k=%d HTTP/1.1\r\nHost: %s\r\n\r\n"
                              % (url, i, k, target.netloc)).encode())
                status, _ = await read_response(reader)
                slowest = max(slowest, time.monotonic() - start)
                if status == 200:
                    ok += 1
                if k == 0:
                    first_done += 1
                    if first_done == connections:
                        all_first.set()
        finally:
            if first_done < connections and not all_first.is_set():
                # A failed connection must not keep the others waiting.
                first_done += 1
                if first_done == connections:
                    all_first.set()
            open_now -= 1
            writer.close()

    results = await asyncio.gather(*(one(i) for i in range(connections)),
                                   return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, Exception)]
    return {"ok": ok, "expected": connections * requests,
            "open_max": open_max, "slowest_ms": int(slowest * 1000),
            "errors": len(errors), "first_error": errors[0] if errors else None}


async def slow(port, url, connections, rate):
    target = urllib.parse.urlsplit(url)
    head = ("GET %s HTTP/1.1\r\nHost: %s\r\nX-Slow: %s\r\n"
            % (url, target.netloc, "x" * 200)).encode()

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        start = time.monotonic()
        received = b""

        async def drip():
            for i in range(len(head)):
                writer.write(head[i:i + 1])
                await writer.drain()
                await asyncio.sleep(1.0 / rate)

        dripper = asyncio.ensure_future(drip())
        try:
            while time.monotonic() - start < 60:
                try:
                    data = await asyncio.wait_for(reader.read(4096), 1)
                except asyncio.TimeoutError:
                    continue
                if not data:
                    return {"closed_after": time.monotonic() - start,
                            "received": received[:40].decode("latin-1")}
                received += data
        except ConnectionError:
            return {"closed_after": time.monotonic() - start,
                    "received": received[:40].decode("latin-1")}
        finally:
            dripper.cancel()
            writer.close()
        return {"closed_after": None, "received": ""}

    return await asyncio.gather(*(one() for _ in range(connections)))


async def hold(port, connections, seconds):
    writers = []
    for _ in range(connections):
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), 2)
            writers.append(writer)
        except (OSError, asyncio.TimeoutError):
            break
    await asyncio.sleep(seconds)
    for w in writers:
        w.close()
    return {"opened": len(writers)}


def main():
    mode = sys.argv[1]
    port = int(sys.argv[2])
    if mode == "keepalive":
        out = asyncio.run(keepalive(port, sys.argv[3], int(sys.argv[4]),
                                    int(sys.argv[5])))
    elif mode == "slow":
        out = asyncio.run(slow(port, sys.argv[3], int(sys.argv[4]),
                               float(sys.argv[5])))
    elif mode == "hold":
        out = asyncio.run(hold(port, int(sys.argv[3]), float(sys.argv[4])))
    else:
        sys.exit("usage: see the module docstring")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
