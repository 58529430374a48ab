#pragma once
/* glibc's mallopt (malloc.h is not part of Swift's Glibc module): CPUBackend tunes when freed blocks go back to
   the kernel. */
#include <malloc.h>
