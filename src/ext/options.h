/* Constructor options given as names ("lazy", "JSONB", ...). */
#ifndef DICTSQLITE_EXT_OPTIONS_H
#define DICTSQLITE_EXT_OPTIONS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Match name case-insensitively against the NULL-terminated choices; the
 * index of the match, or -1 with ValueError naming arg, the value and
 * choices_text (the choices as the user should read them). */
int ds_parse_choice(const char *arg, PyObject *name, const char *const *choices,
                    const char *choices_text);

#endif
