#ifndef DLSMS_CZLIB_SHIM_H
#define DLSMS_CZLIB_SHIM_H
#include <zlib.h>
#endif
