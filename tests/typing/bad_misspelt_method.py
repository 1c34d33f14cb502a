"""A misspelt method is caught before it runs."""
from dictsqlite import DictSQLiteV4

db = DictSQLiteV4("app.db")
db.gett("user:alice")  # E: attr-defined
db.tabel("users")  # E: attr-defined
