/*
 * view_window.h — one on-screen window showing fer_images, for ferctl-view.
 *
 * A C interface over OpenCV's highgui (view_window.cpp is the only file that
 * sees it): no OpenCV type crosses this header, and no C++ exception crosses
 * its functions. Only the viewer links it; ferctl and libferclient never do.
 */
#ifndef FER_VIEW_WINDOW_H
#define FER_VIEW_WINDOW_H

#include "cv/image.h"

typedef struct fer_view_window fer_view_window;

/* Opens a window titled title. FER_E_UNSUPPORTED (with err->msg) when highgui
 * cannot open one; -ENOMEM. */
int fer_view_window_open(fer_view_window **out, const char *title, fer_error *err);
/* Shows img (BGR or grey) in the window, resizing the window to it. */
int fer_view_window_show(fer_view_window *w, const fer_image *img, fer_error *err);
/* Runs the window's event loop for up to wait_ms (at least 1) and returns the
 * key pressed (its low byte), or -1 if none. */
int fer_view_window_key(fer_view_window *w, int wait_ms);
/* 1 once the user has closed the window (its close button). */
int fer_view_window_closed(fer_view_window *w);
/* Destroys the window and frees w; accepts NULL. */
void fer_view_window_close(fer_view_window *w);

#endif
