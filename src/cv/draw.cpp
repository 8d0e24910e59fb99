// draw.cpp — the OpenCV side of draw.h: wraps a fer_image's pixels in a cv::Mat
// header (no copy) and calls OpenCV's anti-aliased drawing primitives. Every
// entry point catches all exceptions: C callers never see one.
#include <opencv2/imgproc.hpp>

#include <vector>

extern "C" {
#include "cv/draw.h"
}

namespace {

cv::Mat wrap(fer_image *img)
{
    return cv::Mat(img->h, img->w, img->channels == 1 ? CV_8UC1 : CV_8UC3, img->data);
}

cv::Scalar colour(const fer_image *img, fer_rgb c)
{
    if (img->channels == 1)
        return cv::Scalar(c.b);
    return cv::Scalar(c.b, c.g, c.r);
}

const int font = cv::FONT_HERSHEY_SIMPLEX;

} // namespace

extern "C" void fer_draw_line(fer_image *img, float x0, float y0, float x1, float y1, fer_rgb c,
                              int thickness)
{
    try {
        cv::Mat m = wrap(img);
        // 4 fractional bits keep sub-pixel positions for smooth curves.
        cv::line(m, cv::Point(cvRound(x0 * 16), cvRound(y0 * 16)),
                 cv::Point(cvRound(x1 * 16), cvRound(y1 * 16)), colour(img, c), thickness,
                 cv::LINE_AA, 4);
    } catch (...) {
    }
}

extern "C" void fer_draw_polyline(fer_image *img, const float *xs, const float *ys, int n,
                                  fer_rgb c, int thickness)
{
    try {
        if (n < 2)
            return;
        cv::Mat m = wrap(img);
        std::vector<cv::Point> pts;
        pts.reserve((size_t)n);
        for (int i = 0; i < n; i++)
            pts.emplace_back(cvRound(xs[i] * 16), cvRound(ys[i] * 16));
        cv::polylines(m, pts, false, colour(img, c), thickness, cv::LINE_AA, 4);
    } catch (...) {
    }
}

extern "C" void fer_draw_rect(fer_image *img, int x, int y, int w, int h, fer_rgb c, int thickness)
{
    try {
        cv::Mat m = wrap(img);
        cv::rectangle(m, cv::Rect(x, y, w, h), colour(img, c), thickness < 0 ? cv::FILLED : thickness,
                      cv::LINE_8);
    } catch (...) {
    }
}

extern "C" void fer_draw_circle(fer_image *img, int x, int y, int radius, fer_rgb c, int thickness)
{
    try {
        cv::Mat m = wrap(img);
        cv::circle(m, cv::Point(x, y), radius, colour(img, c), thickness < 0 ? cv::FILLED : thickness,
                   cv::LINE_AA);
    } catch (...) {
    }
}

extern "C" void fer_draw_text(fer_image *img, const char *text, int x, int y, double scale,
                              fer_rgb c, int thickness)
{
    try {
        cv::Mat m = wrap(img);
        cv::putText(m, text, cv::Point(x, y), font, scale, colour(img, c), thickness, cv::LINE_AA);
    } catch (...) {
    }
}

extern "C" void fer_text_size(const char *text, double scale, int thickness, int *w, int *h)
{
    *w = *h = 0;
    try {
        int base = 0;
        cv::Size s = cv::getTextSize(text, font, scale, thickness, &base);
        *w = s.width;
        *h = s.height;
    } catch (...) {
    }
}

extern "C" void fer_draw_text_vertical(fer_image *img, const char *text, int x, int y, double scale,
                                       fer_rgb c, int thickness)
{
    try {
        int base = 0;
        cv::Size s = cv::getTextSize(text, font, scale, thickness, &base);
        // Draw horizontally on a scratch image, rotate it, and copy the ink over.
        cv::Mat tmp(s.height + base + 2, s.width + 2, img->channels == 1 ? CV_8UC1 : CV_8UC3,
                    cv::Scalar::all(0));
        cv::Mat mask(tmp.size(), CV_8UC1, cv::Scalar(0));
        cv::putText(tmp, text, cv::Point(1, s.height + 1), font, scale, colour(img, c), thickness,
                    cv::LINE_AA);
        cv::putText(mask, text, cv::Point(1, s.height + 1), font, scale, cv::Scalar(255), thickness,
                    cv::LINE_AA);
        cv::rotate(tmp, tmp, cv::ROTATE_90_COUNTERCLOCKWISE);
        cv::rotate(mask, mask, cv::ROTATE_90_COUNTERCLOCKWISE);
        cv::Mat m = wrap(img);
        cv::Rect dst(x, y, tmp.cols, tmp.rows);
        cv::Rect clip = dst & cv::Rect(0, 0, m.cols, m.rows);
        if (clip.empty())
            return;
        cv::Rect src(clip.x - x, clip.y - y, clip.width, clip.height);
        tmp(src).copyTo(m(clip), mask(src));
    } catch (...) {
    }
}
