/*
 * capture.cpp — the OpenCV side of capture.h: cv::VideoCapture with an explicit
 * backend per kind of source, frames copied into fer_images.
 *
 * Only OpenCV calls live here. Each extern "C" entry point wraps its body in
 * try/catch, so no exception reaches C: cv::Exception becomes FER_E_INVAL with
 * OpenCV's message, std::bad_alloc -ENOMEM.
 */
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <fcntl.h>
#include <unistd.h>

extern "C" {
#include "cv/capture.h"
#include "util/fileio.h"
#include "util/redact.h"
}
#include "cv/boundary.hpp"

struct fer_capture {
    cv::VideoCapture cap;
    cv::Mat mat;          /* the backend's last frame */
    std::string what;     /* path or URL the backend opens (and rewind reopens) */
    std::string name;     /* what messages call it */
    int api;              /* cv::CAP_V4L2 or cv::CAP_FFMPEG */
    std::vector<int> params;
    int fd = -1;          /* a video file, held open (see fer_capture_open_file) */

    ~fer_capture()
    {
        if (fd >= 0)
            close(fd);
    }
};

namespace {

void quiet_opencv()
{
    static bool done = false;
    if (!done) {
        cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
        done = true;
    }
}


/* Opens c->cap from c's fields; FER_E_UNSUPPORTED with a message if it will not. */
int do_open(fer_capture *c, const char *unsupported, fer_error *err)
{
    if (!c->cap.open(c->what, c->api, c->params) || !c->cap.isOpened())
        return fer_fail(err, FER_E_UNSUPPORTED, "%s: %s", c->name.c_str(), unsupported);
    return 0;
}

int open_common(fer_capture **out, const char *what, int api, std::vector<int> params,
                const char *unsupported, fer_error *err, int fd = -1)
{
    *out = nullptr;
    quiet_opencv();
    fer_capture *c = new (std::nothrow) fer_capture;
    if (!c) {
        if (fd >= 0)
            close(fd);
        return fer_fail(err, -ENOMEM, "%s: out of memory", what);
    }
    c->fd = fd;
    char shown[4096];
    fer_redact(what, shown, sizeof shown); /* a stream's credentials never reach a message */
    c->name = shown;
    c->what = what;
    if (fd >= 0) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        c->what = proc;
    }
    c->api = api;
    c->params = std::move(params);
    int rc = do_open(c, unsupported, err);
    if (rc < 0) {
        delete c;
        return rc;
    }
    *out = c;
    return 0;
}

const char *const file_unsupported = "not a video OpenCV's FFmpeg backend can read";

} // namespace

extern "C" int fer_capture_open_camera(fer_capture **out, const char *device, int width,
                                       int height, double fps, fer_error *err)
{
    if (!out || !device)
        return fer_fail(err, -EINVAL, "fer_capture_open_camera: NULL argument");
    try {
        int rc = open_common(out, device, cv::CAP_V4L2, {},
                             "OpenCV's V4L2 backend cannot open the device", err);
        if (rc < 0)
            return rc;
        /* Requests, set after opening as the V4L2 backend expects them; the driver picks
         * the nearest size and rate it supports, which fer_capture_get_info reports. */
        if (width > 0)
            (*out)->cap.set(cv::CAP_PROP_FRAME_WIDTH, width);
        if (height > 0)
            (*out)->cap.set(cv::CAP_PROP_FRAME_HEIGHT, height);
        if (fps > 0)
            (*out)->cap.set(cv::CAP_PROP_FPS, fps);
        return 0;
    } catch (...) {
        return fer_cv_fail(err, device);
    }
}

extern "C" int fer_capture_open_file(fer_capture **out, const char *path, fer_error *err)
{
    if (!out || !path)
        return fer_fail(err, -EINVAL, "fer_capture_open_file: NULL argument");
    /* The file is opened here, without blocking (a FIFO is refused, not waited
     * on: issue 13, class 1), and FFmpeg opens /proc/self/fd/N, the very file
     * checked, whatever the name points to by then; rewinding reopens the same
     * file too. Without /proc, FFmpeg opens the name after the check. */
    int fd = fer_open_regular(path, NULL, err);
    if (fd < 0)
        return fd;
    if (access("/proc/self/fd", X_OK) != 0) {
        close(fd);
        fd = -1;
    }
    try {
        return open_common(out, path, cv::CAP_FFMPEG, {}, file_unsupported, err, fd);
    } catch (...) {
        return fer_cv_fail(err, path);
    }
}

extern "C" int fer_capture_open_stream(fer_capture **out, const char *url, int timeout_ms,
                                       fer_error *err)
{
    if (!out || !url)
        return fer_fail(err, -EINVAL, "fer_capture_open_stream: NULL argument");
    try {
        std::vector<int> params;
        if (timeout_ms > 0)
            params = {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv::CAP_PROP_READ_TIMEOUT_MSEC,
                      timeout_ms};
        return open_common(out, url, cv::CAP_FFMPEG, params,
                           "cannot open the stream (unreachable, refused, or not a video)", err);
    } catch (...) {
        return fer_cv_fail(err, url);
    }
}

extern "C" int fer_capture_read(fer_capture *c, fer_image *img, fer_error *err)
{
    if (!c || !img)
        return fer_fail(err, -EINVAL, "fer_capture_read: NULL argument");
    const char *what = c->name.c_str();
    try {
        if (!c->cap.read(c->mat) || c->mat.empty())
            return fer_fail(err, FER_E_EOF, "%s: no more frames", what);
        cv::Mat bgr = c->mat;
        if (bgr.depth() != CV_8U)
            return fer_fail(err, FER_E_UNSUPPORTED, "%s: frames are not 8-bit", what);
        if (bgr.channels() == 1 || bgr.channels() == 4) {
            cv::Mat conv;
            cv::cvtColor(bgr, conv, bgr.channels() == 1 ? cv::COLOR_GRAY2BGR : cv::COLOR_BGRA2BGR);
            bgr = conv;
        } else if (bgr.channels() != 3) {
            return fer_fail(err, FER_E_UNSUPPORTED, "%s: frames have %d channels", what,
                            bgr.channels());
        }
        if (img->w != bgr.cols || img->h != bgr.rows || img->channels != 3 || !img->data) {
            fer_image_free(img);
            int rc = fer_image_alloc(img, bgr.cols, bgr.rows, 3);
            if (rc < 0)
                return fer_fail(err, rc, "%s: cannot hold a %dx%d frame", what, bgr.cols,
                                bgr.rows);
        }
        size_t row = size_t(bgr.cols) * 3;
        for (int y = 0; y < bgr.rows; y++)
            memcpy(img->data + size_t(y) * row, bgr.ptr(y), row);
        return 0;
    } catch (...) {
        return fer_cv_fail(err, what);
    }
}

extern "C" int fer_capture_rewind(fer_capture *c, fer_error *err)
{
    if (!c)
        return fer_fail(err, -EINVAL, "fer_capture_rewind: NULL argument");
    try {
        /* Reopening is slower than seeking to frame 0 but works for every container,
         * including those whose index FFmpeg cannot seek in. It goes by the name
         * again, so a file replaced meanwhile is played anew and one removed is
         * lost, checked as at open. */
        c->cap.release();
        if (c->fd >= 0) {
            int fd = fer_open_regular(c->name.c_str(), NULL, err);
            if (fd < 0)
                return fd == -ENOENT ? fer_fail(err, FER_E_LOST,
                                                "%s: no longer there (removed or renamed)",
                                                c->name.c_str())
                                     : fd;
            if (dup3(fd, c->fd, O_CLOEXEC) < 0) {
                int e = errno;
                close(fd);
                return fer_fail(err, -e, "%s: %s", c->name.c_str(), strerror(e));
            }
            close(fd);
        }
        return do_open(c, file_unsupported, err);
    } catch (...) {
        return fer_cv_fail(err, c->name.c_str());
    }
}

extern "C" void fer_capture_get_info(const fer_capture *c, fer_capture_info *info)
{
    memset(info, 0, sizeof *info);
    if (!c)
        return;
    try {
        info->width = int(c->cap.get(cv::CAP_PROP_FRAME_WIDTH));
        info->height = int(c->cap.get(cv::CAP_PROP_FRAME_HEIGHT));
        double fps = c->cap.get(cv::CAP_PROP_FPS);
        info->fps = fps > 0 && fps < 1000 ? fps : 0;
        double frames = c->cap.get(cv::CAP_PROP_FRAME_COUNT);
        info->frames = frames > 0 && frames < 1e12 ? (long long)frames : 0;
        snprintf(info->backend, sizeof info->backend, "%s", c->cap.getBackendName().c_str());
    } catch (...) {
    }
}

extern "C" void fer_capture_close(fer_capture *c)
{
    try {
        delete c;
    } catch (...) {
    }
}
