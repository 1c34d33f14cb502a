# Private: one completion queue per event loop (used by the C async classes).
# A stub so that stubtest, which checks every submodule, need not analyse the
# untyped source.
from asyncio import AbstractEventLoop

from dictsqlite._native import _LoopQueue

def queue_for(loop: AbstractEventLoop) -> _LoopQueue: ...
