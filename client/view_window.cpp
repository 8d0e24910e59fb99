/*
 * view_window.cpp — the highgui shim behind view_window.h.
 *
 * Every entry point is extern "C" and catches everything: cv::Exception
 * becomes FER_E_UNSUPPORTED with OpenCV's message, std::bad_alloc -ENOMEM.
 * The fer_image is wrapped in a cv::Mat header without copying; imshow copies
 * what it needs before returning, so the caller may free the image at once.
 *
 * What this file cannot catch: a Qt or GTK backend that finds no display
 * aborts the process inside namedWindow. ferctl-view therefore checks for a
 * reachable display before it opens a window.
 */
#include <cerrno>
#include <cstdio>
#include <new>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/highgui.hpp>

extern "C" {
#include "view_window.h"
}

struct fer_view_window {
    std::string title;
    bool shown = false;
};

namespace {

int fail(fer_error *err, int code, const char *what, const char *msg)
{
    if (err) {
        err->code = code;
        std::snprintf(err->msg, sizeof err->msg, "%s: %s", what, msg);
    }
    return code;
}

} // namespace

extern "C" int fer_view_window_open(fer_view_window **out, const char *title, fer_error *err)
{
    *out = nullptr;
    fer_view_window *w = nullptr;
    try {
        w = new fer_view_window;
        w->title = title;
        /* GUI_NORMAL: the picture alone, without the Qt backend's toolbar and
         * status bar, which would also make the window wider than the frame. */
        cv::namedWindow(w->title, cv::WINDOW_AUTOSIZE | cv::WINDOW_GUI_NORMAL);
        *out = w;
        return 0;
    } catch (const cv::Exception &e) {
        delete w;
        return fail(err, FER_E_UNSUPPORTED, "cannot open a window", e.what());
    } catch (const std::bad_alloc &) {
        delete w;
        return fail(err, -ENOMEM, "cannot open a window", "out of memory");
    } catch (...) {
        delete w;
        return fail(err, FER_E_UNSUPPORTED, "cannot open a window", "unknown error");
    }
}

extern "C" int fer_view_window_show(fer_view_window *w, const fer_image *img, fer_error *err)
{
    if (!img || !img->data || img->w <= 0 || img->h <= 0 ||
        (img->channels != 1 && img->channels != 3))
        return fail(err, -EINVAL, "show", "not an image");
    try {
        cv::Mat m(img->h, img->w, img->channels == 3 ? CV_8UC3 : CV_8UC1, img->data);
        cv::imshow(w->title, m);
        w->shown = true;
        return 0;
    } catch (const cv::Exception &e) {
        return fail(err, FER_E_UNSUPPORTED, "show", e.what());
    } catch (...) {
        return fail(err, -ENOMEM, "show", "out of memory");
    }
}

extern "C" int fer_view_window_key(fer_view_window *w, int wait_ms)
{
    (void)w;
    try {
        int k = cv::waitKey(wait_ms < 1 ? 1 : wait_ms);
        return k < 0 ? -1 : (k & 0xff);
    } catch (...) {
        return -1;
    }
}

extern "C" int fer_view_window_closed(fer_view_window *w)
{
    try {
        /* Before the first imshow a Qt window may not count as visible yet. */
        return w->shown && cv::getWindowProperty(w->title, cv::WND_PROP_VISIBLE) < 1.0;
    } catch (...) {
        return 1;
    }
}

extern "C" void fer_view_window_close(fer_view_window *w)
{
    if (!w)
        return;
    try {
        cv::destroyWindow(w->title);
        cv::waitKey(1);
    } catch (...) {
    }
    delete w;
}
