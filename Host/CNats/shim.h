#ifndef NVISY_CNATS_SHIM_H
#define NVISY_CNATS_SHIM_H
// nats.c 3.4 (Debian libnats-dev). NvisyNATS wraps it; nothing else imports it.
#include <nats/nats.h>
#endif
