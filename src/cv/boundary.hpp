/*
 * boundary.hpp — the C++ shim's one exception handler. Every extern "C"
 * function of src/cv/ wraps its body in try { ... } catch (...) { return
 * fer_cv_fail(err, what); }, so no exception crosses into C: an OpenCV error
 * becomes FER_E_INVAL with OpenCV's message, a failed allocation -ENOMEM, and
 * anything else FER_E_INVAL saying so. C++ only; C code never sees it.
 */
#ifndef FER_CV_BOUNDARY_HPP
#define FER_CV_BOUNDARY_HPP

extern "C" {
#include "util/error.h"

/* Called from a catch block: rethrows the exception being handled, maps it to
 * a code and a message naming what (a path, a device, an operation) in err, and
 * returns the code. (C linkage like the rest of the shim's interface, so it
 * reads the same wherever it is included.) */
int fer_cv_fail(fer_error *err, const char *what);
}

#endif
