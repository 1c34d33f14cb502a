"""One async scenario, run by whichever `dictsqlite` the interpreter imports.

tests/python/test_differential_rust.py runs it under our package and under the
Rust package (dictsqlite 2.1.3 in its own venv) and compares the two transcripts.
Each step prints one JSON line: {"step": name, "ok": result} or
{"step": name, "raised": exception class name}. Results are normalised to JSON
(bytes as {"bytes": hex}, tuples as lists) so both sides compare as data.
"""
import asyncio
import json
import os
import sys

import dictsqlite

VALUES = {
    "pickle": [{"n": 1, "t": (1, 2)}, [1, "a", None], "text", 42, 2.5, b"raw"],
    "json": [{"n": 1, "l": [1, 2]}, [1, "a", None], "text", 42, 2.5, True],
    "jsonb": [{"n": 1, "l": [1, 2]}, [1, "a", None], "text", 42, 2.5, False],
    "bytes": [b"raw", b"", b"\x00\x80\xff"],
}


def norm(v):
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {str(k): norm(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    return v


def emit(step, **kw):
    print(json.dumps(dict(step=step, **kw), sort_keys=True))


NO_EXPECT = object()


async def step(name, make, expect=NO_EXPECT, raises=None):
    """Run one awaitable or plain call; print what it returned or raised, and
    what a dict-like store must return (or raise) there: the test holds ours to it."""
    extra = {} if expect is NO_EXPECT else {"expect": norm(expect)}
    if raises:
        extra["expect_raised"] = raises
    try:
        r = make()
        if hasattr(r, "__await__"):
            r = await r
        emit(name, ok=norm(r), **extra)
        return r
    except Exception as e:  # noqa: BLE001 - the transcript records the class
        emit(name, raised=type(e).__name__, **extra)
        return None


async def scenario(path, persist, storage):
    vals = VALUES[storage]
    db = dictsqlite.AsyncDictSQLite(path, persist_mode=persist, storage_mode=storage)
    for i, v in enumerate(vals):
        await step(f"aset {i}", lambda i=i, v=v: db.aset(f"k{i}", v))
    for i, v in enumerate(vals):
        await step(f"aget {i}", lambda i=i: db.aget(f"k{i}"), v)
    await step("aget miss", lambda: db.aget("nope"), raises="KeyError")
    await step("acontains hit", lambda: db.acontains("k0"), True)
    await step("acontains miss", lambda: db.acontains("nope"), False)
    await step("adelete hit", lambda: db.adelete("k0"))
    await step("acontains after adelete", lambda: db.acontains("k0"), False)
    await step("abatch_set", lambda: db.abatch_set({f"b{i}": v for i, v in enumerate(vals)}))
    await step("abatch_get", lambda: db.abatch_get([f"b{i}" for i in range(len(vals))]), vals)
    await step("gather aset", lambda: asyncio.gather(*(db.aset(f"g{i}", vals[i % len(vals)])
                                                       for i in range(50))))
    await step("gather aget", lambda: asyncio.gather(*(db.aget(f"g{i}") for i in range(50))),
               [vals[i % len(vals)] for i in range(50)])
    await step("sync get", lambda: db.get("k1"), vals[1])
    await step("sync set", lambda: db.set("s1", vals[0]))
    await step("sync get after set", lambda: db.get("s1"), vals[0])
    await step("get_async", lambda: db.get_async("s1"), vals[0])
    await step("set_async", lambda: db.set_async("s2", vals[-1]))
    await step("aget after set_async", lambda: db.aget("s2"), vals[-1])
    pairs = [("x1", vals[0]), ("x2", vals[-1])]
    await step("batch_set pairs", lambda: db.batch_set(pairs))
    await step("batch_get pairs", lambda: db.batch_get(["x1", "x2"]), [vals[0], vals[-1]])
    await step("batch_set dict", lambda: db.batch_set({"y1": vals[0]}))
    await step("aget after batch_set dict", lambda: db.aget("y1"), vals[0])
    t = db.table("users")
    await step("table aset", lambda: t.aset("alice", vals[0]))
    await step("table aget", lambda: t.aget("alice"), vals[0])
    await step("table acontains", lambda: t.acontains("alice"), True)
    await step("main does not see table key", lambda: db.acontains("alice"), False)
    await step("stats has size/capacity",
               lambda: sorted(k for k in db.stats() if k in ("size", "capacity")),
               ["capacity", "size"])
    await step("aflush", lambda: db.aflush())
    await step("aclose", lambda: db.aclose())
    if persist == "memory":
        return
    db = dictsqlite.AsyncDictSQLite(path, persist_mode=persist, storage_mode=storage)
    await step("reopen aget", lambda: db.aget("k1"), vals[1])
    await step("reopen abatch_get", lambda: db.abatch_get(["b0", "g7", "s2", "x1"]),
               [vals[0], vals[7 % len(vals)], vals[-1], vals[0]])
    await step("reopen table aget", lambda: db.table("users").aget("alice"), vals[0])
    await step("reopen aclose", lambda: db.aclose())


def main():
    directory = sys.argv[1]
    for persist in ("memory", "lazy", "writethrough"):
        for storage in ("pickle", "json", "jsonb", "bytes"):
            emit(f"== {persist}/{storage}")
            path = os.path.join(directory, f"{persist}_{storage}.db")
            asyncio.run(scenario(path, persist, storage))


if __name__ == "__main__":
    main()
