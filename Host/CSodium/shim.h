#ifndef NVISY_CSODIUM_SHIM_H
#define NVISY_CSODIUM_SHIM_H
#include <sodium.h>
#endif
