/*
 * v4l2_probe.c — classifies camera failures with open(2) and three V4L2 ioctls
 * (see v4l2_probe.h). It never streams and never changes the device's format,
 * so it is safe to run while another program uses the camera.
 */
#include "vision/v4l2_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do
        r = ioctl(fd, req, arg);
    while (r < 0 && errno == EINTR);
    return r;
}

int fer_v4l2_probe(const char *path, fer_error *err)
{
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENODEV || e == ENXIO)
            return fer_fail(err, -ENOENT, "%s: no such video device", path);
        if (e == EACCES || e == EPERM)
            return fer_fail(err, -EACCES,
                            "%s: permission denied: add the user to the 'video' group "
                            "(usermod -aG video USER) and log in again", path);
        if (e == EBUSY)
            return fer_fail(err, -EBUSY, "%s: device busy (another program is using it)", path);
        return fer_fail(err, -e, "%s: %s", path, strerror(e));
    }

    int rc = 0;
    struct v4l2_capability cap;
    memset(&cap, 0, sizeof cap);
    if (xioctl(fd, VIDIOC_QUERYCAP, &cap) < 0) {
        rc = fer_fail(err, FER_E_UNSUPPORTED, "%s: not a V4L2 video device", path);
        goto out;
    }
    unsigned caps = (cap.capabilities & V4L2_CAP_DEVICE_CAPS) ? cap.device_caps : cap.capabilities;
    if (!(caps & V4L2_CAP_VIDEO_CAPTURE)) {
        rc = fer_fail(err, FER_E_UNSUPPORTED,
                      "%s: %s is not a video capture device (a metadata or output node?)", path,
                      (const char *)cap.card);
        goto out;
    }

    struct v4l2_format fmt;
    memset(&fmt, 0, sizeof fmt);
    fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(fd, VIDIOC_G_FMT, &fmt) < 0) {
        int e = errno;
        rc = fer_fail(err, -e, "%s: cannot read the capture format: %s", path, strerror(e));
        goto out;
    }
    if (xioctl(fd, VIDIOC_S_FMT, &fmt) < 0) {
        int e = errno;
        if (e == EBUSY)
            rc = fer_fail(err, -EBUSY, "%s: device busy (another program is using it)", path);
        else
            rc = fer_fail(err, -e, "%s: cannot set the capture format: %s", path, strerror(e));
    }
out:
    close(fd);
    return rc;
}
