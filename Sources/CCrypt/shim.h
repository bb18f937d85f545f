#ifndef DLSMS_CCRYPT_SHIM_H
#define DLSMS_CCRYPT_SHIM_H
#include <crypt.h>
#endif
