"""Every async test ends: one still running after its bound fails, naming what waits.

All async tests share the session's event loop, so one await that never returns holds
the whole run, and CI with it, until CI's own limit. A test that outlives its bound
(``DEFAULT_BOUND_S``, or ``@pytest.mark.bound(seconds)``) is cancelled and fails with
the stack of every task on the loop at that moment, taken before the cancellation
unwinds them: the report names the await that hung.

A cancellation reaches the test's body once. Code that hangs again in a ``finally``
or a fixture's teardown is caught by pytest-timeout's backstop (``timeout`` in
``pyproject.toml``), which interrupts the whole process and dumps every thread.
"""

from __future__ import annotations

import asyncio
import functools
import gc
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import pytest

DEFAULT_BOUND_S = 240.0
FRAMES_PER_TASK = 16


def bound_of(item: pytest.Item) -> float:
    """The seconds ``item`` may run: its ``bound`` marker's, else the default."""
    marker = item.get_closest_marker("bound")
    return float(marker.args[0]) if marker is not None else DEFAULT_BOUND_S


def awaited_frames(task: asyncio.Task[Any]) -> list[str]:
    """Where ``task`` is suspended, outermost first, down to what it awaits.

    ``Task.get_stack`` shows only a coroutine's own frame on Python 3.11; the await
    that hangs is found by following ``cr_await`` (``gi_yieldfrom``, ``ag_await``).
    An ``async with`` on an ``@asynccontextmanager`` awaits the generator's
    ``asend``/``athrow`` object, which names its generator only to the collector.
    """
    lines: list[str] = []
    awaitable: Any = task.get_coro()
    while awaitable is not None and len(lines) < FRAMES_PER_TASK:
        frame = next(
            (
                getattr(awaitable, a)
                for a in ("cr_frame", "gi_frame", "ag_frame")
                if getattr(awaitable, a, None)
            ),
            None,
        )
        if frame is None:
            generator = _generator_behind(awaitable)
            if generator is not None:
                awaitable = generator
                continue
            lines.append(f"    awaiting {awaitable!r}")
            break
        code = frame.f_code
        lines.append(f'    File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
        awaitable = next(
            (
                getattr(awaitable, a)
                for a in ("cr_await", "gi_yieldfrom", "ag_await")
                if getattr(awaitable, a, None) is not None
            ),
            None,
        )
    return lines


def _generator_behind(awaitable: Any) -> Any:
    """The async generator an ``asend``/``athrow`` object drives, if it is one."""
    if type(awaitable).__name__ not in ("async_generator_asend", "async_generator_athrow"):
        return None
    return next((r for r in gc.get_referents(awaitable) if hasattr(r, "ag_frame")), None)


def task_stacks() -> str:
    """Every task of the running loop, with the frames it is suspended in."""
    tasks = sorted(asyncio.all_tasks(), key=lambda t: t.get_name())
    return "".join(
        f"  task {task.get_name()}:\n" + "".join(f"{line}\n" for line in awaited_frames(task))
        for task in tasks
    )


def bounded(
    test: Callable[..., Coroutine[Any, Any, Any]], limit_s: float
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """``test``, cancelled and failed with every task's stack after ``limit_s``."""

    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> Any:
        stacks: list[str] = []
        # The snapshot runs just before the cancellation, while the hung frames exist.
        loop = asyncio.get_running_loop()
        snapshot = loop.call_later(limit_s, lambda: stacks.append(task_stacks()))
        try:
            async with asyncio.timeout(limit_s + 0.05) as scope:
                return await test(*args, **kwargs)
        except TimeoutError:
            if not scope.expired():
                raise  # The test's own timeout, not ours.
        finally:
            snapshot.cancel()
        pytest.fail(
            f"still running after {limit_s:g} s (raise it with "
            f"@pytest.mark.bound(seconds)); every task then:\n{''.join(stacks)}",
            pytrace=False,
        )

    return run


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Run a pytest-asyncio test through ``bounded``.

    Named workaround: pytest-asyncio 1.x has no per-test timeout; its items say which
    coroutine function they will run in ``_synchronization_target_attr`` (the test, or
    a hypothesis test's inner function), and that is the one wrapped here.
    """
    target = getattr(item, "_synchronization_target_attr", None)
    if target is None:
        return (yield)
    owner, attr = target
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(owner, attr, bounded(getattr(owner, attr), bound_of(item)))
        return (yield)
