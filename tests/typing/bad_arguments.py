"""Argument shapes the C code refuses: keywords for positional-only
parameters, and the keyword-only options passed by position."""
from dictsqlite import DictSQLiteV4

db = DictSQLiteV4("app.db")
db.get(key="k")  # E: call-arg
db.set("k")  # E: call-arg
DictSQLiteV4("app.db", 10, True, "lazy", "pickle", "main", None, False, None, 100, "utf-8", "prefix", 20, 1000)  # E: call-arg
DictSQLiteV4("app.db", hot_capacity="big")  # E: arg-type
DictSQLiteV4("app.db", pool_sise=4)  # E: call-arg
