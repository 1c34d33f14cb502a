"""One completion queue per event loop, for the async API.

The C core's workers push finished jobs onto a queue whose eventfd becomes
readable once per batch. Each loop watches its queue's descriptor with
``add_reader``; one callback then resolves every future that completed. A
loop without ``add_reader`` (such as Windows' proactor loop) gets a small
waker thread that waits on the descriptor and hands the callback to the
loop with ``call_soon_threadsafe``.
"""
import os
import select
import threading
import weakref

from dictsqlite._native import _LoopQueue

_lock = threading.Lock()
_by_loop = weakref.WeakKeyDictionary()
_unweakrefable = {}  # loops that cannot be weakly referenced, by id (kept alive)


def _waker(loop_ref, queue):
    fd = queue.fileno()
    while True:
        loop = loop_ref()
        if loop is None or loop.is_closed():
            return
        del loop
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            os.read(fd, 8)  # the queue keeps its own signalled flag
        except BlockingIOError:
            pass
        loop = loop_ref()
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(queue._drain)
        except RuntimeError:  # the loop closed meanwhile
            return


def _watch(loop, queue):
    try:
        loop.add_reader(queue.fileno(), queue._drain)
        return
    except NotImplementedError:
        pass
    try:
        ref = weakref.ref(loop)
    except TypeError:
        ref = lambda: loop  # noqa: E731
    threading.Thread(target=_waker, args=(ref, queue), name="dictsqlite-waker",
                     daemon=True).start()


def queue_for(loop):
    """The completion queue of loop, watched by it from the first call on."""
    with _lock:
        try:
            queue = _by_loop.get(loop)
        except TypeError:
            queue = _unweakrefable.get(id(loop), (None, None))[1]
        if queue is not None:
            return queue
        queue = _LoopQueue()
        _watch(loop, queue)
        try:
            _by_loop[loop] = queue
        except TypeError:
            _unweakrefable[id(loop)] = (loop, queue)
        return queue
