/*
 * bridge.h — ferd-mqtt's running service: ferd's streams in, MQTT messages
 * out, in one poll(2) loop on one thread.
 *
 * The loop owns three kinds of descriptor: a signalfd (SIGTERM and SIGINT
 * stop in order, SIGHUP is logged and ignored), ferd's connections
 * (ferdlink.h) and the broker's socket (broker.h). Everything ferd sends is
 * turned into messages at once (events.h, state.h, topics.h) and put in the
 * bounded queue (queue.h); the broker connection takes from it when it can.
 * So reading from ferd never waits for the broker, and the broker being away
 * costs at most the queue's bounds.
 *
 * Availability is not queued: it is a latest-value slot published first
 * whenever the broker (re)connects or ferd comes or goes, so neither a full
 * queue nor an outage can leave the wrong value retained. Discovery configs
 * are published after it on every broker connection (and again when ferd's
 * model changes its classes; configs of classes that went away are cleared).
 *
 * A clean stop publishes "offline" (the will covers the unclean ones), waits
 * up to two seconds for the broker to acknowledge it, and disconnects.
 */
#ifndef FMQ_BRIDGE_H
#define FMQ_BRIDGE_H

#include "config.h"

/*
 * Runs until SIGTERM/SIGINT (FMQ_EXIT_OK) or a failure that must not be
 * retried (FMQ_EXIT_AUTH, FMQ_EXIT_TLS, FMQ_EXIT_CONFIG, FMQ_EXIT_FAIL),
 * logging one line that says why. password may be NULL.
 */
int fmq_bridge_run(const fmq_config *cfg, const char *password);

#endif
