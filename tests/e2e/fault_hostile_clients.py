#!/usr/bin/env python3
"""Hostile clients for tests/e2e/fault_hostile_clients.sh (standard library
only): sends COUNT requests, made from valid templates by seeded random
mutations, to a proxy on 127.0.0.1 and prints a JSON summary.

  fault_hostile_clients.py PROXY_PORT ORIGIN_PORT COUNT SEED

Each request goes on its own connection, written in random pieces; the
client then reads until the proxy closes the connection or 3 seconds pass.
The summary counts the connections that got a status line, that the proxy
closed, and that were still open after 3 s (hung), and lists the statuses
seen. The same SEED sends the same bytes, so a failure can be replayed.
"""

import asyncio
import json
import random
import sys

TEMPLATES = [
    b"GET http://127.0.0.1:{o}/ok.txt HTTP/1.1\r\nHost: 127.0.0.1:{o}\r\n"
    b"User-Agent: hostile\r\nAccept: */*\r\n\r\n",
    b"POST http://127.0.0.1:{o}/ok.txt HTTP/1.1\r\nHost: 127.0.0.1:{o}\r\n"
    b"Content-Length: 5\r\n\r\nhello",
    b"POST http://127.0.0.1:{o}/ok.txt HTTP/1.1\r\nHost: 127.0.0.1:{o}\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
    b"CONNECT 127.0.0.1:{o} HTTP/1.1\r\nHost: 127.0.0.1:{o}\r\n\r\n",
    b"CONNECT [::1]:{o} HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: stratosphere\r\n\r\n",
    b"GET http://stratosphere/ca.pem HTTP/1.0\r\n\r\n",
    b"GET http://127.0.0.1:{o}/ok.txt HTTP/1.1\r\nHost: a\r\n\r\n"
    b"GET http://127.0.0.1:{o}/ok.txt HTTP/1.1\r\nHost: a\r\n"
    b"Connection: close\r\n\r\n",
    b"GET http://127.0.0.1:{o}/ok.txt HTTP/1.1\r\nHost: a\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
    b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1:{o}\r\n\r\n",
    b"GET http://[::1]:{o}/ HTTP/1.1\r\n\r\n",
    b"GET http://user:pw@127.0.0.1:{o}/ok.txt#frag HTTP/1.1\r\n\r\n",
]

PIECES = [b"\r\n", b"\n", b"\r", b" ", b":", b"\x00", b"\xff", b"%", b"[",
          b"]", b"@", b"Content-Length: 99999999999999999999\r\n",
          b"Content-Length: -1\r\n", b"Transfer-Encoding: chunked\r\n",
          b"Transfer-Encoding: gzip, chunked\r\n", b"Host: x\r\n",
          b"Connection: content-length\r\n", b"Expect: 100-continue\r\n",
          b"ffffffffffffffff\r\n", b"http://", b"https://", b":0", b":65536",
          b"\t", b"\x7f", b"HTTP/9.9", b"HTTP/0.9", b"X" * 70000]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(0, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos:pos] = rng.choice(PIECES)
        elif op == 2 and data:
            end = min(len(data), pos + rng.randrange(1, 16))
            del data[pos:end]
        elif op == 3:
            data[pos:pos] = bytes(rng.randrange(256)
                                  for _ in range(rng.randrange(1, 8)))
        else:
            data[pos:pos] = data[pos:pos + rng.randrange(1, 64)]
    return bytes(data)


async def one(port, data, splits):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    closed = False
    try:
        off = 0
        for size in splits:
            writer.write(data[off:off + size])
            off += size
            await writer.drain()
            await asyncio.sleep(0)
        writer.write(data[off:])
        await writer.drain()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        while loop.time() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536),
                                               deadline - loop.time())
            except asyncio.TimeoutError:
                break
            if not chunk:
                closed = True
                break
            received += chunk
    except (ConnectionError, OSError):
        closed = True
    finally:
        writer.close()
    status = None
    if received.startswith(b"HTTP/1."):
        status = received.split(b" ", 2)[1].decode("latin-1")
    return status, closed


async def main():
    port, origin, count, seed = (int(a) for a in sys.argv[1:5])
    rng = random.Random(seed)
    jobs = []
    for _ in range(count):
        data = mutate(rng, rng.choice(TEMPLATES).replace(
            b"{o}", str(origin).encode()))
        splits = [rng.randrange(1, 40) for _ in range(rng.randrange(0, 4))]
        jobs.append((data, splits))
    statuses = {}
    answered = closed = hung = 0
    sem = asyncio.Semaphore(100)

    async def run(data, splits):
        nonlocal answered, closed, hung
        async with sem:
            status, was_closed = await one(port, data, splits)
        if status is not None:
            answered += 1
            statuses[status] = statuses.get(status, 0) + 1
        if was_closed:
            closed += 1
        elif status is None:
            hung += 1

    await asyncio.gather(*(run(d, s) for d, s in jobs))
    print(json.dumps({"sent": count, "answered": answered, "closed": closed,
                      "hung": hung, "statuses": statuses}, sort_keys=True))


asyncio.run(main())
