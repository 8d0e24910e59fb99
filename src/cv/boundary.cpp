/*
 * boundary.cpp — see boundary.hpp. The Lippincott idiom: a function called
 * from a catch block rethrows the exception in flight and sorts it by type, so
 * the mapping is written once for every entry point of the shim.
 */
#include "cv/boundary.hpp"

#include <cerrno>
#include <new>

#include <opencv2/core.hpp>

int fer_cv_fail(fer_error *err, const char *what)
{
    try {
        throw;
    } catch (const cv::Exception &e) {
        return fer_fail(err, FER_E_INVAL, "%s: OpenCV: %s", what, e.err.c_str());
    } catch (const std::bad_alloc &) {
        return fer_fail(err, -ENOMEM, "%s: out of memory", what);
    } catch (...) {
        return fer_fail(err, FER_E_INVAL, "%s: unexpected C++ exception", what);
    }
}
