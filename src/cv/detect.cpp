/*
 * detect.cpp — the OpenCV side of detect.h: crop, resize, equalise, detect, map
 * back. Scratch images live in the detector and are reused across calls, so a
 * steady stream of searches allocates only what detectMultiScale does inside.
 * Every entry point catches all exceptions.
 */
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <cstdlib>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

extern "C" {
#include "cv/detect.h"
#include "util/fileio.h"
}
#include "cv/boundary.hpp"

struct fer_detector {
    cv::CascadeClassifier cascade;
    cv::Ptr<cv::CLAHE> clahe;
    cv::Mat small, eq;            /* scratch: resized region, equalised copy */
    std::vector<cv::Rect> hits;
    int window;
};

namespace {

/* Debian's largest cascade is 2.6 MB; a file far beyond that is a mistake. */
constexpr size_t max_cascade_bytes = size_t(64) << 20;

} // namespace

extern "C" int fer_detector_load(fer_detector **out, const char *path, fer_error *err)
{
    if (!out || !path)
        return fer_fail(err, -EINVAL, "fer_detector_load: NULL argument");
    *out = nullptr;
    /* The file is read here, once, and OpenCV parses the bytes: its own open
     * by name would say only "failed", would block on a FIFO until a writer
     * came (issue 13, class 1), and would read whatever the name pointed to
     * after our check. */
    uint8_t *buf = nullptr;
    size_t len = 0;
    int rc = fer_read_file(path, &buf, &len, max_cascade_bytes, err);
    if (rc < 0) {
        if (rc == -ENOENT && strcmp(path, FER_CASCADE_DEFAULT) == 0)
            return fer_fail(err, rc, "%s: %s (install Debian's opencv-data package)", path,
                            strerror(ENOENT));
        return rc;
    }
    fer_detector *d = nullptr;
    try {
        cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
        d = new fer_detector;
        cv::FileStorage fs(std::string(reinterpret_cast<const char *>(buf), len),
                           cv::FileStorage::READ | cv::FileStorage::MEMORY);
        free(buf);
        buf = nullptr;
        if (!fs.isOpened() || !d->cascade.read(fs.getFirstTopLevelNode()) ||
            d->cascade.empty()) {
            delete d;
            return fer_fail(err, FER_E_INVAL, "%s: not a cascade OpenCV can load", path);
        }
        cv::Size w = d->cascade.getOriginalWindowSize();
        d->window = w.width > 0 ? w.width : 24;
        *out = d;
        return 0;
    } catch (const cv::Exception &e) {
        free(buf);
        delete d;
        return fer_fail(err, FER_E_INVAL, "%s: not a cascade OpenCV can load (%s)", path,
                        e.err.c_str());
    } catch (...) {
        free(buf);
        delete d;
        return fer_cv_fail(err, path);
    }
}

extern "C" void fer_detector_free(fer_detector *d)
{
    try {
        delete d;
    } catch (...) {
    }
}

extern "C" int fer_detector_window(const fer_detector *d)
{
    return d ? d->window : 0;
}

extern "C" int fer_detect_run(fer_detector *d, const fer_image *grey, const fer_detect_req *q,
                              fer_box *boxes, int max, int *n, fer_error *err)
{
    if (n)
        *n = 0;
    if (!d || !grey || !grey->data || !q || !n || (max > 0 && !boxes))
        return fer_fail(err, -EINVAL, "fer_detect_run: NULL argument");
    const fer_box r = q->roi;
    if (grey->channels != 1 || r.w <= 0 || r.h <= 0 || r.x < 0 || r.y < 0 ||
        r.x + r.w > grey->w || r.y + r.h > grey->h || !(q->scale > 0) || q->scale > 4 ||
        !(q->scale_factor > 1) || q->min_neighbors < 0 || q->equalize < FER_EQUALIZE_NONE ||
        q->equalize > FER_EQUALIZE_GLOBAL)
        return fer_fail(err, -EINVAL,
                        "fer_detect_run: bad request (roi %d,%d %dx%d in %dx%d, scale %g, "
                        "scale factor %g)", r.x, r.y, r.w, r.h, grey->w, grey->h, q->scale,
                        q->scale_factor);
    try {
        cv::Mat full(grey->h, grey->w, CV_8UC1, grey->data);
        cv::Mat roi = full(cv::Rect(r.x, r.y, r.w, r.h));
        int sw = int(std::lround(r.w * q->scale)), sh = int(std::lround(r.h * q->scale));
        if (sw < d->window || sh < d->window)
            return 0; /* smaller than one detection window: nothing can be found */
        cv::Mat *img = &roi;
        if (sw != r.w || sh != r.h) {
            /* Area averaging when shrinking keeps the fine texture Haar features need
             * from aliasing; enlarging (small faces searched up close) is bilinear. */
            cv::resize(roi, d->small, cv::Size(sw, sh), 0, 0,
                       q->scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
            img = &d->small;
        }
        if (q->equalize == FER_EQUALIZE_GLOBAL) {
            cv::equalizeHist(*img, d->eq);
            img = &d->eq;
        } else if (q->equalize == FER_EQUALIZE_CLAHE) {
            /* Tiles of about 40 px: 8x6 on a 320x240 frame, 2x2 on a region around a face. */
            int tx = std::max(1, std::min(8, (sw + 20) / 40));
            int ty = std::max(1, std::min(8, (sh + 20) / 40));
            if (!d->clahe)
                d->clahe = cv::createCLAHE(2.0, cv::Size(tx, ty));
            d->clahe->setTilesGridSize(cv::Size(tx, ty));
            d->clahe->apply(*img, d->eq);
            img = &d->eq;
        }
        int mn = q->min_side > 0 ? int(std::floor(q->min_side * q->scale)) : 0;
        int mx = q->max_side > 0 ? int(std::ceil(q->max_side * q->scale)) : 0;
        d->hits.clear();
        d->cascade.detectMultiScale(*img, d->hits, q->scale_factor, q->min_neighbors, 0,
                                    cv::Size(mn, mn), cv::Size(mx, mx));
        int k = 0;
        for (const cv::Rect &h : d->hits) {
            if (k >= max)
                break;
            fer_box b;
            b.x = r.x + int(std::lround(h.x / q->scale));
            b.y = r.y + int(std::lround(h.y / q->scale));
            b.w = int(std::lround(h.width / q->scale));
            b.h = int(std::lround(h.height / q->scale));
            boxes[k++] = b;
        }
        *n = k;
        return 0;
    } catch (...) {
        return fer_cv_fail(err, "face detection");
    }
}

extern "C" void fer_detect_set_threads(int n)
{
    try {
        cv::setNumThreads(n);
    } catch (...) {
    }
}
