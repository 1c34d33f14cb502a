/* Option-name parsing shared by every constructor argument given as a name. */
#include "options.h"

int ds_parse_choice(const char *arg, PyObject *name, const char *const *choices,
                    const char *choices_text)
{
    if (PyUnicode_Check(name)) {
        PyObject *lower = PyObject_CallMethod(name, "lower", NULL);
        if (!lower)
            return -1;
        for (int i = 0; choices[i]; i++) {
            if (PyUnicode_CompareWithASCIIString(lower, choices[i]) == 0) {
                Py_DECREF(lower);
                return i;
            }
        }
        Py_DECREF(lower);
    }
    PyErr_Format(PyExc_ValueError, "%s must be one of %s; got %R", arg, choices_text, name);
    return -1;
}
