"""DictSQLiteV4 takes a path (str, bytes or os.PathLike), not an int."""
from dictsqlite import DictSQLiteV4

db = DictSQLiteV4(123)  # E: arg-type
