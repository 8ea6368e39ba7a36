"""``shopwindow dev`` (what ``make run`` runs): serves the slice, and Ctrl-C leaves nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.shopwindow.test_devstack import alive, wait_dead

QUERY = '{ product(id: "abc") { id name stock { available } } }'


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``.

    Read from every process's ``stat`` rather than from ``/proc/<pid>/task/*/children``:
    a thread of ``pid`` may end between listing its tasks and reading one.
    """
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The name (field 2) is in parentheses and may hold spaces: split after it.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # The process ended while we looked.
            continue
        if fields and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


async def test_dev_serves_the_slice_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SHOPWINDOW_")  # The stand-ins, whatever this run uses.
    }
    env |= {
        "SHOPWINDOW_DEV_DATA_DIR": str(tmp_path),
        # Port 0: the servers take free ports from the kernel; the banner names the one
        # the gateway got.
        "SHOPWINDOW_HTTP_PORT": "0",
        "SHOPWINDOW_MATERIALIZER_HTTP_PORT": "0",
        "SHOPWINDOW_DEMO_PRODUCTS": "20",
        "SHOPWINDOW_LOG_FORMAT": "json",
    }
    log_path = tmp_path / "dev.log"
    with log_path.open("wb") as log_file:  # The child keeps its own descriptor.
        dev = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shopwindow.cli",
            "dev",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
        )
    try:
        body: Any = None
        assert dev.stdout is not None
        banner = (await asyncio.wait_for(dev.stdout.readline(), 60)).decode()
        match = re.search(r"GraphQL: (http://\S+)/graphql", banner)
        assert match, banner
        # The rest of the banner, to its `shopwindow status` command.
        while " status --watch " not in (line := (await dev.stdout.readline()).decode()):
            assert line, "the banner ends without a status command"
        status_command = line.strip()
        async with httpx.AsyncClient(base_url=match.group(1)) as http:
            for _ in range(600):  # 60 s, the promise of `make run`.
                try:
                    response = await http.post("/graphql", json={"query": QUERY})
                    body = response.json()
                    if body.get("data", {}).get("product"):
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            storefront = await http.get("/")
            subgraph = await http.post("/subgraph", json={"query": "{ _service { sdl } }"})
        assert body and body["data"]["product"]["id"] == "abc", body
        assert storefront.status_code == 200 and "storefront" in storefront.text
        assert "@key" in subgraph.json()["data"]["_service"]["sdl"]
        # A second terminal knows none of the stand-ins' addresses: the banner's command
        # carries them, and reads this stack and its gateway.
        status = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            status_command.replace(" --watch ", " --json "),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        shown, complaint = await asyncio.wait_for(status.communicate(), 60)
        assert status.returncode == 0, complaint.decode()
        parts = {part["title"]: part for part in json.loads(shown)["parts"]}
        assert f"Gateway {match.group(1)}" in parts, parts
        assert not [part for part in parts.values() if "error" in part], parts
        servers = children(dev.pid)
        assert len(servers) == 2 and all(alive(pid) for pid in servers)
        dev.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(dev.wait(), 30) == 0
        assert await wait_dead(servers) == []
        # A clean start and stop says nothing alarming: no ERROR or WARNING line.
        levels = [json.loads(line)["level"] for line in log_path.read_text().splitlines()]
        assert levels and not {"ERROR", "WARNING", "CRITICAL"} & set(levels), levels
    finally:
        if dev.returncode is None:
            dev.kill()
            await dev.wait()
