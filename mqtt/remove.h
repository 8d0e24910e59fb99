/*
 * remove.h — `ferd-mqtt --remove-discovery`: take an instance off the broker.
 *
 * Clears, with empty retained messages, every retained message of the
 * instance that the broker holds: its Home Assistant configs (Home Assistant
 * then deletes the device and its entities) and its availability, state and
 * status. Which topics exist is asked of the broker, not computed: the tool
 * subscribes to the instance's discovery pattern and to <prefix>/<instance>/+,
 * collects the retained messages the broker sends, and knows it has them all
 * when a probe message it publishes after subscribing comes back (the broker
 * delivers a subscription's retained messages before anything published
 * later). So configs left by an older model's classes go too.
 *
 * Stop the instance's running bridge first, or it publishes them again.
 */
#ifndef FMQ_REMOVE_H
#define FMQ_REMOVE_H

#include "config.h"

/* Returns an exit code (broker.h's FMQ_EXIT_*) and prints what it cleared. */
int fmq_remove_run(const fmq_config *cfg, const char *password);

#endif
