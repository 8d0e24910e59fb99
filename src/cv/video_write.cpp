/*
 * video_write.cpp — the OpenCV side of video_write.h: cv::VideoWriter with the
 * CAP_OPENCV_MJPEG backend for .avi (and any other name), so writing works
 * without FFmpeg's encoders, and FFmpeg's H.264 (else MPEG-4 part 2) encoder for
 * .mp4, .m4v, .mov and .mkv. Every entry point catches all exceptions.
 */
#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <strings.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

extern "C" {
#include "cv/video_write.h"
}
#include "cv/boundary.hpp"

struct fer_video_writer {
    cv::VideoWriter vw;
    std::string path;
    int w, h;
};

namespace {

/* 1 if path names a container FFmpeg must write (the MJPEG backend writes AVI only). */
bool wants_ffmpeg(const char *path)
{
    const char *dot = std::strrchr(path, '.');
    if (!dot || std::strchr(dot, '/'))
        return false;
    for (const char *ext : {".mp4", ".m4v", ".mov", ".mkv"})
        if (strcasecmp(dot, ext) == 0)
            return true;
    return false;
}

} // namespace

extern "C" int fer_video_writer_open(fer_video_writer **out, const char *path, int w, int h,
                                     double fps, int quality, fer_error *err)
{
    if (!out || !path)
        return fer_fail(err, -EINVAL, "fer_video_writer_open: NULL argument");
    *out = nullptr;
    if (w <= 0 || h <= 0 || !(fps > 0) || quality < 1 || quality > 100)
        return fer_fail(err, -EINVAL, "%s: bad video size %dx%d, rate %g or quality %d", path,
                        w, h, fps, quality);
    fer_video_writer *v = nullptr;
    try {
        v = new fer_video_writer;
        v->path = path;
        v->w = w;
        v->h = h;
        if (wants_ffmpeg(path)) {
            /* H.264 plays everywhere, browsers included; MPEG-4 part 2 is the
             * encoder every FFmpeg build has. */
            bool ok = false;
            for (const char *cc : {"avc1", "mp4v"}) {
                ok = v->vw.open(path, cv::CAP_FFMPEG,
                                cv::VideoWriter::fourcc(cc[0], cc[1], cc[2], cc[3]), fps,
                                cv::Size(w, h), true) &&
                     v->vw.isOpened();
                if (ok)
                    break;
            }
            if (!ok) {
                delete v;
                return fer_fail(err, FER_E_UNSUPPORTED,
                                "%s: OpenCV's FFmpeg backend cannot write an H.264 or MPEG-4 "
                                "video here (write .avi instead)", path);
            }
            *out = v;
            return 0;
        }
        if (!v->vw.open(path, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'),
                        fps, cv::Size(w, h), true) ||
            !v->vw.isOpened()) {
            delete v;
            return fer_fail(err, FER_E_UNSUPPORTED, "%s: OpenCV cannot create an MJPEG video",
                            path);
        }
        v->vw.set(cv::VIDEOWRITER_PROP_QUALITY, quality);
        *out = v;
        return 0;
    } catch (...) {
        delete v;
        return fer_cv_fail(err, path);
    }
}

extern "C" int fer_video_writer_write(fer_video_writer *v, const fer_image *img, fer_error *err)
{
    if (!v || !img || !img->data)
        return fer_fail(err, -EINVAL, "fer_video_writer_write: NULL argument");
    if (img->w != v->w || img->h != v->h || (img->channels != 1 && img->channels != 3))
        return fer_fail(err, -EINVAL, "%s: frame is %dx%dx%d, the video %dx%dx3",
                        v->path.c_str(), img->w, img->h, img->channels, v->w, v->h);
    try {
        cv::Mat m(img->h, img->w, CV_8UC(img->channels), img->data);
        if (img->channels == 1) {
            cv::Mat bgr;
            cv::cvtColor(m, bgr, cv::COLOR_GRAY2BGR);
            v->vw.write(bgr);
        } else {
            v->vw.write(m);
        }
        return 0;
    } catch (...) {
        return fer_cv_fail(err, v->path.c_str());
    }
}

extern "C" int fer_video_writer_close(fer_video_writer *v, fer_error *err)
{
    if (!v)
        return 0;
    int rc = 0;
    try {
        v->vw.release(); /* writes the AVI index */
    } catch (...) {
        rc = fer_cv_fail(err, v->path.c_str());
    }
    try {
        delete v;
    } catch (...) {
    }
    return rc;
}
