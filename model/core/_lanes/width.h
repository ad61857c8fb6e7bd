/* One lane count of one sector size (see model.h). */
#define RHS_FN CAT3(rhs, MODEL, LANES)
#include MODEL_HEADER
#define RHS_W RHS_FN
#define KCAT(name) CAT3(name, MODEL, LANES)
#define KERNEL static KCAT(kernel)
#include "kernel.h"
#undef RHS_W
#undef RHS_FN
#undef KCAT
#undef KERNEL
