#ifndef DLSMS_CLZ4_SHIM_H
#define DLSMS_CLZ4_SHIM_H
#include <lz4frame.h>
#endif
