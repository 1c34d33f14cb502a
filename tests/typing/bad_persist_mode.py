"""The mode options are Literal types: a wrong name is an error."""
from dictsqlite import AsyncDictSQLite, DictSQLiteV4

DictSQLiteV4("app.db", persist_mode="fast")  # E: arg-type
DictSQLiteV4("app.db", storage_mode="yaml")  # E: arg-type
AsyncDictSQLite("app.db", table_mode="joined")  # E: arg-type
DictSQLiteV4("app.db", synchronous="off")  # E: arg-type
