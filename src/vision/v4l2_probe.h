/*
 * v4l2_probe.h — why a camera cannot be used, asked of the kernel directly.
 *
 * OpenCV's V4L2 backend reports every failure as "could not open", so before
 * (and after a failed) open through OpenCV the source asks the device node
 * itself, with plain open(2) and V4L2 ioctls, which error applies.
 */
#ifndef FER_V4L2_PROBE_H
#define FER_V4L2_PROBE_H

#include "util/error.h"

/*
 * Checks that path is a V4L2 video-capture device this process can use now:
 * open(O_RDWR | O_NONBLOCK), VIDIOC_QUERYCAP, then VIDIOC_G_FMT and VIDIOC_S_FMT of
 * the format it already has (the kernel refuses S_FMT with EBUSY while another
 * process streams from the device; setting the current format changes nothing).
 * Returns 0 or, each with a message naming path:
 *   -ENOENT  no such video device
 *   -EACCES  permission denied (the message names the `video` group)
 *   -EBUSY   device busy (another program streams from it)
 *   FER_E_UNSUPPORTED  not a V4L2 single-planar capture device
 *   -errno   anything else open(2) or the ioctls report
 */
int fer_v4l2_probe(const char *path, fer_error *err);

#endif
