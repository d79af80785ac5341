"""What an idle graphql-transport-ws subscriber holds on the server, by allocation site.

Not a test: it prints figures. Serves the app in this process (uvicorn, the WebSocket
implementation of ``MLGRAPH_LIVE_WS_IMPLEMENTATION``) on a fresh PostgreSQL database, takes
a tracemalloc snapshot, has ``bench/subscribers.py``'s load generator (a child process) open
N connections that each subscribe to one job and receive one event, takes a second snapshot,
and prints the growth per connection: traced Python memory, RSS, and the top allocation
sites.

    .venv/bin/python bench/subscriber_memory.py --connections 1000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

import subscribers as bench  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--port", type=int, default=9450)
    parser.add_argument("--database", default=f"mlg_subs_memory_{os.getpid()}")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--frames", type=int, default=0, help="also the top sites by this many calling frames"
    )
    parser.add_argument(
        "--profile", type=int, default=0, help="then profile this many events (cProfile)"
    )
    args = parser.parse_args()
    bench.raise_fd_limit()
    from mlgraph.app import create_app
    from mlgraph.app.websockets import uvicorn_ws
    from mlgraph.auth.local_issuer import issue_token
    from mlgraph.migrations import upgrade
    from mlgraph.settings import Settings

    url = await bench.fresh_postgres(args.database)
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.update(MLGRAPH_DATA_DIR=data_dir, MLGRAPH_DATABASE_URL=url)
        settings = Settings(log_level="WARNING")
        await asyncio.to_thread(upgrade, url)
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            ws=uvicorn_ws(settings.live_ws_implementation),
            ws_per_message_deflate=settings.live_ws_deflate,
            ws_max_size=settings.live_max_message_bytes,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag
            await asyncio.sleep(0.05)
        token = issue_token(
            settings, subject="bench@example.com", roles=settings.oidc_admin_roles[:1]
        )
        base = f"http://127.0.0.1:{args.port}"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            no_keepalive = httpx.Limits(max_keepalive_connections=0)
            async with httpx.AsyncClient(
                base_url=base, headers=headers, timeout=60, limits=no_keepalive
            ) as client:
                project = await bench.mutate(
                    client, "createProject", {"slug": "m", "name": "m"}, "project { id }"
                )
                pid = project["project"]["id"]
                nodes = {"projectId": pid, "name": "t", "nodes": bench.NODES}
                pipeline = await bench.mutate(client, "createPipeline", nodes, "pipeline { id }")
                run = {"pipelineId": pipeline["pipeline"]["id"]}
                jid = (await bench.mutate(client, "startPipelineRun", run, "job { id }"))["job"][
                    "id"
                ]
                await bench.mutate(
                    client, "updateJob", {"jobId": jid, "status": "RUNNING"}, "job { id }"
                )
                # one connection and event first, so what every connection shares is allocated
                for n in (1, args.connections):
                    gc.collect()
                    if n > 1:
                        before = tracemalloc.take_snapshot()
                        rss = bench.rss_kib(os.getpid())
                    else:
                        tracemalloc.start(8)
                    load = await bench.start_load(
                        f"ws://127.0.0.1:{args.port}/graphql",
                        n,
                        token,
                        {"p": pid, "j": jid},
                        blocking=False,
                    )
                    await load.read()  # subscribed
                    warm = asyncio.ensure_future(load.read())
                    while not warm.done():
                        await bench.mutate(
                            client, "updateJob", {"jobId": jid, "progress": 0.0}, "job { id }"
                        )
                        await asyncio.wait([warm], timeout=1.0)
                    await asyncio.sleep(1.0)
                    gc.collect()
                    if n > 1:
                        after = tracemalloc.take_snapshot()
                        grown = bench.rss_kib(os.getpid()) - rss
                        report(before, after, n, grown, args.top, args.frames)
                    load.send("time")
                    if n > 1 and args.profile:
                        await profile(client, jid, args.profile, n, args.top)
                    load.send("report")
                    await load.read()
                    await load.proc.wait()
                    await asyncio.sleep(1.0)
        finally:
            server.should_exit = True
            await task
            await bench.drop_postgres(args.database)


async def profile(client: httpx.AsyncClient, jid: str, events: int, n: int, top: int) -> None:
    """Server CPU per delivered message over ``events`` events, and where it goes."""
    import cProfile
    import pstats
    import time

    tracemalloc.stop()
    profiler = cProfile.Profile()
    cpu = time.process_time()
    profiler.enable()
    for i in range(events):
        progress = {"jobId": jid, "progress": (i + 1) / (events + 1)}
        await bench.mutate(client, "updateJob", progress, "job { id }")
        await asyncio.sleep(0.5)
    profiler.disable()
    cpu = time.process_time() - cpu
    print(json.dumps({"profiled_cpu_us_per_message": round(cpu / (events * n) * 1e6, 1)}))
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def report(
    before: tracemalloc.Snapshot,
    after: tracemalloc.Snapshot,
    n: int,
    rss: int,
    top: int,
    frames: int = 0,
) -> None:
    stats = after.compare_to(before, "lineno")
    traced = sum(s.size_diff for s in stats)
    blocks = sum(s.count_diff for s in stats)
    print(
        json.dumps(
            {
                "connections": n,
                "traced_kib_per_connection": round(traced / n / 1024, 1),
                "blocks_per_connection": round(blocks / n, 1),
                "rss_kib_per_connection": round(rss / n, 1),
            }
        )
    )
    for stat in stats[:top]:
        frame = stat.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"{stat.size_diff / n:8.0f} B {stat.count_diff / n:6.1f} blocks  {where}")
    if frames:
        print(f"-- by {frames} calling frames")
        for stat in after.compare_to(before, "traceback")[:top]:
            print(f"{stat.size_diff / n:8.0f} B {stat.count_diff / n:6.1f} blocks")
            for frame in list(stat.traceback)[:frames]:
                print(f"           {'/'.join(Path(frame.filename).parts[-2:])}:{frame.lineno}")
    by_file = after.compare_to(before, "filename")
    print("-- by file")
    for stat in by_file[:top]:
        name = "/".join(Path(stat.traceback[0].filename).parts[-2:])
        print(f"{stat.size_diff / n:8.0f} B {stat.count_diff / n:6.1f} blocks  {name}")


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:  # the server runs on it when installed
        asyncio.run(main())
    else:
        uvloop.run(main())
