#ifndef DLSMS_HEAPSTATS_H
#define DLSMS_HEAPSTATS_H
#include <stddef.h>
/// Bytes currently allocated on the heap (glibc mallinfo2: uordblks + hblkhd).
size_t dlsms_heap_bytes(void);
#endif
