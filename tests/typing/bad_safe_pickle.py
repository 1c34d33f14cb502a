"""safe_pickle's functions take bytes and keyword-only policies."""
from dictsqlite.modules.safe_pickle import SafePolicy, safe_loads

safe_loads("not bytes")  # E: arg-type
SafePolicy(("myapp",))  # E: call-arg
