/*
 * ferd.h — the daemon's state, shared by its files. There is one `ferd`,
 * owned by main().
 *
 * Threads and ownership:
 *   - the loop thread (main) owns the libuv loop, every handle, the client
 *     table, the configuration and the statistics;
 *   - the capture thread owns the frame source and writes each frame into the
 *     frame slot (newest wins; an unconsumed frame it overwrites is a drop);
 *   - the inference thread owns the pipeline and the model, takes frames from
 *     the slot while someone wants results, and appends each result to the
 *     result ring, then wakes the loop with uv_async_send.
 * Everything the threads share sits in `ferd_shared`, guarded by its mutex.
 * The only libuv call made off the loop thread is uv_async_send; sends
 * coalesce, so the loop's callback drains everything pending.
 */
#ifndef FERD_FERD_H
#define FERD_FERD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "clock.h"
#include "config.h"
#include "lograte.h"
#include "outq.h"
#include "proto/protocol.h"
#include "proto/serve.h"
#include "stats.h"
#include "tracks.h"
#include "userrate.h"
#include "vision/frame.h"

struct fer_model;
struct fer_pipeline;

/* Room in a client table beyond max_clients, used only to tell a connection
 * that may not have a slot (slots.h) why it is being closed. */
#define FERD_REJECT_SLOTS 4
/* Results the inference thread may queue for the loop before the oldest is
 * overwritten (the loop drains them in order on each wake-up). */
#define FERD_RESULT_RING 4
/* Clients that can wait for one reload's answer. */
#define FERD_RELOAD_WAITERS 16

/* One processed frame on its way from the inference thread to the loop — or,
 * with end set, the news that the source ended after the frames before it. */
typedef struct ferd_result {
    int end;                  /* 1: no frame; the source ended (end_msg says how) */
    fer_end_msg end_msg;
    fer_frame_result r;
    uint64_t ready_ns;        /* monotonic: when the inference thread finished */
    unsigned epoch;           /* sh.idle_epoch when its frame was taken */
    int img_w, img_h;
    uint8_t *jpeg;            /* the frame as JPEG, if it was wanted; malloc'd */
    size_t jpeg_len;
    uint8_t *annotated;       /* the annotated frame as JPEG, if wanted */
    size_t annotated_len;
} ferd_result;

/* Source states as STATUS names them. */
typedef enum ferd_source_state {
    FERD_SRC_STARTING,
    FERD_SRC_STREAMING,
    FERD_SRC_RECONNECTING,
    FERD_SRC_ENDED,
    FERD_SRC_ERROR,
    FERD_SRC_IDLE,
} ferd_source_state;

const char *ferd_source_state_name(ferd_source_state s);

/* What the loop asks of the image encoder (bits; read by the inference thread). */
enum { FERD_WANT_JPEG = 1 << 0, FERD_WANT_ANNOTATED = 1 << 1 };

typedef struct ferd_shared {
    pthread_mutex_t mu;
    pthread_cond_t infer_cond;    /* inference: a fresh wanted frame, a reload, quit */
    pthread_cond_t capture_cond;  /* capture: wake from back-off or idle, quit */
    int quit;
    atomic_int stop;              /* quit, readable without the mutex (pacing waits) */

    /* Demand, set by the loop. */
    int wanted;                   /* someone watches or a poll waits */
    int close_when_idle;          /* live copy of the config keys */
    int idle_close_seconds;
    int jpeg_quality;

    /* The frame slot. */
    fer_frame frame;              /* newest captured frame (owned here) */
    int frame_fresh;              /* not yet taken by inference */

    /* Idle spells: counted by the loop each time "wanted" falls to 0, so the
     * inference thread knows to start its tracking afresh. */
    unsigned idle_epoch;
    /* File sources with realtime off: capture waits for inference to take each
     * frame, and inference for room in the result ring: nothing is dropped. */
    int lossless;

    /* Source status (written by capture). */
    ferd_source_state state;
    char error[512];
    uint32_t retry_ms;            /* the back-off delay now waited after a failure */
    char kind[16];
    int width, height;
    double fps;                   /* measured */
    long long captured, dropped, reopens;
    int source_ended;             /* a file without loop reached its end (capture) */
    fer_end_msg end;              /* how (capture fills it; inference passes it on) */
    int end_pushed;               /* inference queued the END after the last frame */

    /* Inference output. */
    long long processed;
    ferd_result ring[FERD_RESULT_RING];
    int ring_head, ring_count;
    long long ring_overwritten;
    atomic_int want_images;       /* FERD_WANT_* */
    uint64_t busy_since_ns;       /* inference started a frame or a model load at (0: waiting) */
    const char *busy_with;        /* "a frame" or "loading a model", for the log */

    /* Reload: the loop posts a model path (and the live tta setting), inference answers. */
    int reload_pending;           /* 1: path set, waiting for inference */
    int tta;                      /* FER_TTA_*: applied by inference at the next reload */
    char reload_path[FERD_PATH_MAX];
    int reload_done;              /* 1: outcome below is ready for the loop */
    int reload_rc;
    char reload_msg[512];
    fer_model_info reload_info;
} ferd_shared;

typedef struct ferd_client ferd_client;

typedef struct ferd {
    uv_loop_t *loop;
    fer_config cfg;               /* the loop thread's, changed by reloads */
    fer_config thread_cfg;        /* copy read by the threads; fixed once they start */
    char config_path[FERD_PATH_MAX];  /* "" = built-in defaults only */
    /* Command-line settings, applied again over the file on every reload. */
    struct {
        const char *key, *value;
    } overrides[8];
    int noverrides;

    /* Listener. */
    uv_pipe_t server;
    int server_open;
    int socket_owned;             /* we bound bound_path: remove it at exit */
    char bound_path[FERD_SOCKET_PATH_MAX];
    int activated;                /* the socket came from sd_listen_fds */
    int accept_pending;           /* a connection waits for a free slot */
    gid_t image_gid, reload_gid;  /* (gid_t)-1: no group configured */

    /* Clients: max_clients + FERD_REJECT_SLOTS slots, allocated at start. */
    ferd_client *clients;
    int nslots;
    ferd_userrate users;          /* request budgets of unprivileged uids (userrate.h) */
    char *inbufs;                 /* nslots * FER_PROTO_MAX_REQUEST */
    unsigned next_client_id;
    int connected, watching;
    int polls_waiting;
    int reap_pending;             /* clients marked for closing since the last reap */

    /* Handles. */
    uv_async_t wake;              /* inference -> loop */
    uv_timer_t cron;              /* 100 ms housekeeping */
    uv_timer_t watchdog;
    uv_check_t reaper;            /* closes clients at a safe point */
    uv_signal_t sig_hup, sig_term, sig_int;
    int handles_open;
    uint64_t watchdog_usec;

    /* Threads and what they share. */
    ferd_shared sh;
    pthread_t capture_thread, infer_thread;
    int threads_started;
    int threads_stuck;            /* a thread did not finish within stop_timeout_ms */
    struct fer_model *model;      /* at start; afterwards owned by inference */
    struct fer_pipeline *pipeline;
    fer_model_info model_info;    /* the model serving now (loop's copy) */

    /* Reload requesters waiting for the inference thread's answer. */
    struct {
        int slot;
        unsigned id;
    } reload_waiters[FERD_RELOAD_WAITERS];
    int nreload_waiters;
    int reload_in_flight;         /* the inference thread is loading a model */
    int reload_nrestart;          /* keys of the last reload that need a restart */
    char reload_restart[FER_RELOAD_MAX_KEYS][32];

    /* Latest result (for POLL while others watch), and the message cache. */
    ferd_result last;
    int has_last;

    /* The live tracks clients have been shown (tracks.h). */
    ferd_tracks tracks;
    /* The source ended and every frame went out: END to each new watcher. */
    int ended;
    fer_end_msg end;

    ferd_stats stats;
    /* What peers can make the daemon log, let through once per 10 s each. */
    ferd_lograte log_refused, log_too_long, log_timeout;
    uint64_t start_ns;
    int stopping;
    int exit_code;
    char notify_status[256];      /* last STATUS= sent */
    uint64_t last_status_ns;
} ferd;

/* Begins the orderly shutdown (SIGTERM, SIGINT). */
void ferd_stop(ferd *d);

/* sd_notify STATUS= with a summary, when it changed. */
void ferd_notify_status(ferd *d);

#endif
