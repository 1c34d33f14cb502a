"""Keys are str: an int key would be stored as str(1), so it is flagged."""
from dictsqlite import DictSQLiteV4

db = DictSQLiteV4("app.db")
db[1] = "one"  # E: index
db.get(2)  # E: arg-type
