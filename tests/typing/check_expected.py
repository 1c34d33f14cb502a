"""Check mypy's verdict on the bad_*.py files: each line marked
`# E: code[, code...]` must get an error with exactly those codes, and no
other line may get one. Reads mypy's output (run with --show-error-codes
--no-error-summary) on stdin; the files are the arguments.

    python3 -m mypy --strict bad_*.py | python3 check_expected.py bad_*.py
"""
import re
import sys
from collections import defaultdict

MARK = re.compile(r"#\s*E:\s*([\w-]+(?:\s*,\s*[\w-]+)*)\s*$")
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?:\d+:)? error: (?P<msg>.*?)\s+\[(?P<code>[\w-]+)\]$")


def expected_errors(paths):
    want = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for number, text in enumerate(f, 1):
                m = MARK.search(text)
                if m:
                    want[(path, number)] = {c.strip() for c in m.group(1).split(",")}
    return want


def main(paths):
    want = expected_errors(paths)
    files_without_marks = [p for p in paths if not any(k[0] == p for k in want)]
    got = defaultdict(set)
    messages = defaultdict(list)
    for raw in sys.stdin:
        line = raw.rstrip("\n")
        m = ERROR.match(line)
        if m:
            key = (m.group("file"), int(m.group("line")))
            got[key].add(m.group("code"))
            messages[key].append(line)
        elif ": error:" in line:
            print(f"check_expected: an error without a code: {line}", file=sys.stderr)
            return 1
    problems = [f"{p}: has no '# E: code' mark, so it tests nothing" for p in files_without_marks]
    for key in sorted(set(want) | set(got)):
        path, number = key
        if want.get(key) != got.get(key, set()):
            expected = ", ".join(sorted(want.get(key, ()))) or "no error"
            found = "; ".join(messages.get(key, ())) or "no error"
            problems.append(f"{path}:{number}: expected {expected}; mypy said: {found}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"check_expected: {len(want)} misuses in {len(paths)} files flagged with the expected codes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
